package deliver

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// item is an event waiting in, or taken from, a lane.
type item struct {
	ev       *Event
	at       time.Time // when it was queued
	over     bool      // queued beyond QueueSize (holds no room token)
	hold     bool      // to be held, never sent (see Dispatcher.Hold)
	attempts int
	lastErr  string
}

// rowKey identifies a row within a subscription: the unit of ordering.
type rowKey struct {
	sub int64
	key string
}

func keyOf(ev *Event) rowKey { return rowKey{ev.Endpoint.SubscriptionID, ev.OrderKey} }

// ordered reports whether ev must keep its row's order.
func ordered(ev *Event) bool { return ev.OrderKey != "" && !ev.Endpoint.Unordered }

// endpoint is the delivery state of one target URL: PerEndpoint lanes, each
// delivering one request at a time, so the lanes bound its concurrency,
// and a bounded count of queued events.
type endpoint struct {
	lanes []*lane
	room  chan struct{} // one token per queued event
	rr    atomic.Uint64 // round robin for unordered events
	seed  maphash.Seed
	// fails counts consecutive failed attempts; openUntil (Unix nanos)
	// is when the breaker closes.
	fails     atomic.Int64
	openUntil atomic.Int64
	// congested is set when the queue stayed full for OverflowWait; then
	// overflow parks at once until the queue drains to half.
	congested atomic.Bool
	// delivered counts successful attempts, for waitRoom to tell a busy
	// endpoint from a stuck one.
	delivered atomic.Int64
	// proven is set while the endpoint's last attempt succeeded; while it
	// is not, the endpoint is in probe mode (probe.go) and probe holds a
	// token for the one request in flight.
	proven atomic.Bool
	probe  chan struct{}
}

func newEndpoint(d *Dispatcher, lanes, queue int) *endpoint {
	ep := &endpoint{room: make(chan struct{}, queue), seed: maphash.MakeSeed(), probe: make(chan struct{}, 1)}
	ep.lanes = make([]*lane, lanes)
	for i := range ep.lanes {
		ep.lanes[i] = &lane{d: d, ep: ep}
	}
	return ep
}

// laneFor picks ev's lane: by row for ordered events, so one row's events
// share one FIFO lane; round robin otherwise.
func (ep *endpoint) laneFor(ev *Event) *lane {
	n := uint64(len(ep.lanes))
	if !ordered(ev) {
		return ep.lanes[ep.rr.Add(1)%n]
	}
	h := maphash.String(ep.seed, ev.OrderKey) ^ uint64(ev.Endpoint.SubscriptionID)*0x9E3779B97F4A7C15
	return ep.lanes[h%n]
}

// lane is a FIFO of events delivered by at most one worker goroutine at a
// time, started when the lane gets work and ending when it is empty.
type lane struct {
	d  *Dispatcher
	ep *endpoint

	// parkMu serializes parking from this lane with the decision to send,
	// so an event is never sent while an earlier one of its row is being
	// parked.
	parkMu sync.Mutex

	mu       sync.Mutex
	q        []item
	head     int
	active   bool     // a worker runs
	expiring bool     // an expire goroutine runs
	over     int      // queued items with over set
	inflight []rowKey // ordered rows of the batch the worker holds
	buf      []item   // the worker's batch buffer
}

// push queues it, which holds a room token, and starts a worker when none
// runs.
func (l *lane) push(it item) {
	l.mu.Lock()
	l.append(it)
	l.mu.Unlock()
}

// pushOver queues it beyond the endpoint's bound (the queue is full): it
// holds no room token and is parked by the next sweep, after the earlier
// events of its row.
func (l *lane) pushOver(it item) {
	it.over = true
	l.mu.Lock()
	l.append(it)
	l.mu.Unlock()
}

// append adds it to the queue and starts a worker when none runs. Called
// with l.mu held.
func (l *lane) append(it item) {
	l.q = append(l.q, it)
	l.d.queued.Add(1)
	if it.over {
		l.over++
	}
	if l.active {
		return
	}
	l.active = l.d.spawn(l.work)
}

// maxParkBatch bounds the events parked in one call while an endpoint's
// breaker is open.
const maxParkBatch = 256

// work delivers batches until the lane is empty or the dispatcher stops.
func (l *lane) work() {
	for {
		batch, parkUntil := l.pop()
		if batch == nil {
			return
		}
		switch {
		case batch[0].hold:
			l.d.holdItems(l, batch)
			continue
		case !parkUntil.IsZero():
			l.d.parkBroken(l, batch, parkUntil)
			continue
		}
		l.d.process(l, batch)
	}
}

// pop takes the next batch: up to the endpoint's BatchSize consecutive
// events that share one Endpoint and are not to be held. While the
// endpoint's breaker is open it takes up to maxParkBatch consecutive
// parkable events instead, and returns when the breaker closes; when the
// first event is to be held, up to maxParkBatch consecutive such events.
// It returns nil, and marks the worker gone, when the lane is empty or the
// dispatcher stops.
func (l *lane) pop() ([]item, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight = l.inflight[:0]
	if l.head == len(l.q) || l.d.stopping() {
		l.active = false
		return nil, time.Time{}
	}
	first := l.q[l.head].ev.Endpoint
	end := l.head + 1
	parkUntil := time.Time{}
	switch {
	case l.q[l.head].hold:
		for end < len(l.q) && end-l.head < maxParkBatch && l.q[end].hold {
			end++
		}
	case l.d.durable(first):
		parkUntil = l.ep.brokenUntil(time.Now(), l.d.o.BreakFor)
	}
	if !parkUntil.IsZero() {
		for end < len(l.q) && end-l.head < maxParkBatch && l.d.durable(l.q[end].ev.Endpoint) {
			end++
		}
	}
	for parkUntil.IsZero() && !l.q[l.head].hold && end < len(l.q) && end-l.head < first.BatchSize &&
		l.q[end].ev.Endpoint == first && !l.q[end].hold {
		end++
	}
	batch := append(l.buf[:0], l.q[l.head:end]...)
	l.buf = batch
	l.remove(l.head, end)
	for _, it := range batch {
		if ordered(it.ev) {
			l.inflight = append(l.inflight, keyOf(it.ev))
		}
	}
	return batch, parkUntil
}

// remove drops q[from:to] (from >= head), releasing their queue slots.
// Called with l.mu held.
func (l *lane) remove(from, to int) {
	n := to - from
	l.release(l.q[from:to])
	if from == l.head {
		clear(l.q[from:to])
		l.head = to
	} else {
		copy(l.q[from:], l.q[to:])
		clear(l.q[len(l.q)-n:])
		l.q = l.q[:len(l.q)-n]
	}
	if l.head == len(l.q) {
		l.q, l.head = l.q[:0], 0
	} else if l.head > 64 && l.head > len(l.q)/2 {
		k := copy(l.q, l.q[l.head:])
		clear(l.q[k:])
		l.q, l.head = l.q[:k], 0
	}
}

// release gives back the room tokens and counts of items leaving the
// queue. Called with l.mu held.
func (l *lane) release(items []item) {
	tokens := 0
	for _, it := range items {
		if it.over {
			l.over--
		} else {
			tokens++
		}
	}
	l.d.queued.Add(int64(-len(items)))
	for range tokens {
		<-l.ep.room
	}
}
