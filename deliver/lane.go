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
}

// brokenUntil returns when the endpoint's open breaker closes, or the zero
// time when the caller may try the endpoint. Once an open breaker's time is
// up, one caller gets to probe and the breaker stays open for the others
// (for another breakFor) until the probe's outcome closes or reopens it.
func (ep *endpoint) brokenUntil(now time.Time, breakFor time.Duration) time.Time {
	u := ep.openUntil.Load()
	switch {
	case u == 0:
		return time.Time{}
	case now.UnixNano() < u:
		return time.Unix(0, u)
	case ep.openUntil.CompareAndSwap(u, now.Add(breakFor).UnixNano()):
		return time.Time{} // the probe
	}
	if u = ep.openUntil.Load(); u == 0 {
		return time.Time{}
	}
	return time.Unix(0, u)
}

// note counts an attempt's outcome and reports whether it opened the
// breaker (after BreakAfter consecutive failures).
func (ep *endpoint) note(a Attempt, breakAfter int, breakFor time.Duration) bool {
	if a.Success() {
		ep.fails.Store(0)
		ep.openUntil.Store(0)
		return false
	}
	if a.Permanent || breakAfter < 0 || ep.fails.Add(1) < int64(breakAfter) {
		return false
	}
	now := time.Now()
	old := ep.openUntil.Load()
	return now.UnixNano() >= old && ep.openUntil.CompareAndSwap(old, now.Add(breakFor).UnixNano())
}

func newEndpoint(d *Dispatcher, lanes, queue int) *endpoint {
	ep := &endpoint{room: make(chan struct{}, queue), seed: maphash.MakeSeed()}
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

// expire starts parking the expired events of each lane.
func (ep *endpoint) expire(now time.Time) {
	cutoff := now.Add(-ep.lanes[0].d.o.MaxWait)
	for _, l := range ep.lanes {
		l.startExpire(cutoff)
	}
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

// pushBehind queues it beyond the endpoint's bound when an earlier event
// of its row is queued or in flight here, and reports whether it did: a
// row's events must reach the retry queue in order, so it may not be
// parked before them.
func (l *lane) pushBehind(it item) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.holds(keyOf(it.ev)) {
		return false
	}
	it.over = true
	l.append(it)
	return true
}

// append adds it to the queue and starts a worker when none runs. Called
// with l.mu held.
func (l *lane) append(it item) {
	l.q = append(l.q, it)
	l.d.queued.Add(1)
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
		if !parkUntil.IsZero() {
			l.d.parkBroken(l, batch, parkUntil)
			continue
		}
		l.d.process(l, batch)
	}
}

// pop takes the next batch: up to the endpoint's BatchSize consecutive
// events that share one Endpoint. While the endpoint's breaker is open it
// takes up to maxParkBatch consecutive parkable events instead, and
// returns when the breaker closes. It returns nil, and marks the worker
// gone, when the lane is empty or the dispatcher stops.
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
	if l.d.durable(first) {
		parkUntil = l.ep.brokenUntil(time.Now(), l.d.o.BreakFor)
	}
	if !parkUntil.IsZero() {
		for end < len(l.q) && end-l.head < maxParkBatch && l.d.durable(l.q[end].ev.Endpoint) {
			end++
		}
	}
	for parkUntil.IsZero() && end < len(l.q) && end-l.head < first.BatchSize && l.q[end].ev.Endpoint == first {
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
func (l *lane) remove(from, to int) {
	n := to - from
	tokens := 0
	for _, it := range l.q[from:to] {
		if !it.over {
			tokens++
		}
	}
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
	l.d.queued.Add(int64(-n))
	for range tokens {
		<-l.ep.room
	}
}

// holds reports whether an event of row k is queued or in flight here.
// Called with l.mu held.
func (l *lane) holds(k rowKey) bool {
	for _, f := range l.inflight {
		if f == k {
			return true
		}
	}
	for _, it := range l.q[l.head:] {
		if ordered(it.ev) && keyOf(it.ev) == k {
			return true
		}
	}
	return false
}

// startExpire starts an expire goroutine when the oldest queued event is
// older than cutoff and none runs.
func (l *lane) startExpire(cutoff time.Time) {
	l.mu.Lock()
	start := !l.expiring && l.head < len(l.q) && l.q[l.head].at.Before(cutoff)
	l.expiring = start
	l.mu.Unlock()
	if start && !l.d.spawn(func() { l.expire(cutoff) }) {
		l.mu.Lock()
		l.expiring = false
		l.mu.Unlock()
	}
}

// expire parks the events queued before cutoff, except those whose row
// has an event in flight (they wait for its outcome, which bounds their
// wait by the endpoint's Timeout, so the row's events reach the retry
// queue in order).
func (l *lane) expire(cutoff time.Time) {
	l.parkMu.Lock()
	defer l.parkMu.Unlock()
	l.mu.Lock()
	items := l.takeExpired(cutoff)
	l.mu.Unlock()
	if len(items) > 0 {
		l.d.parkItems(items, reasonMaxWait, 0, time.Time{})
	}
	l.mu.Lock()
	l.expiring = false
	l.mu.Unlock()
}

// takeExpired removes and returns the events queued before cutoff whose
// row is not held by an event in flight. Called with l.mu held.
func (l *lane) takeExpired(cutoff time.Time) []item {
	held := append([]rowKey(nil), l.inflight...)
	var out []item
	w, i := l.head, l.head
	for ; i < len(l.q) && l.q[i].at.Before(cutoff); i++ {
		it := l.q[i]
		if !l.d.durable(it.ev.Endpoint) || ordered(it.ev) && containsKey(held, keyOf(it.ev)) {
			l.q[w] = it
			w++
			continue
		}
		out = append(out, it)
	}
	if len(out) > 0 {
		l.remove(w, i)
	}
	return out
}

func containsKey(keys []rowKey, k rowKey) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}
