package deliver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// holdUntil is the NextAttempt of held events: never, until released.
var holdUntil = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// holdKick is how often ReleaseHeld asks for a sweep while it waits for
// held events still in memory.
const holdKick = 20 * time.Millisecond

// errCannotHold is returned by Hold for events the dispatcher cannot
// hold.
var errCannotHold = errors.New("only events of persisted subscriptions can be held, with a RetryQueue that implements HoldQueue")

// Hold takes events produced while walhook is paused in hold mode (it
// implements router.Holder): each is durably held through the
// RetryQueue's HoldQueue.Hold, never tried, and then settled (its Settle
// called). An event whose row (Endpoint.SubscriptionID and OrderKey) still
// has an earlier event in the dispatcher's memory — queued, in flight or
// being parked — waits behind it on its lane and is held only once that
// event is delivered or parked, so that the row's order holds across the
// pause; it is settled then, after Hold returned. The others are held at
// once, in one call, and settled before Hold returns. Hold waits for Run
// to start and, like Submit, blocks on MaxPending. It returns an error
// when an event cannot be held (see errCannotHold) — then it takes none —,
// when the HoldQueue fails, or when ctx ends or the dispatcher stops
// while it waits; events not settled then are not settled later either,
// except those already queued behind their row.
func (d *Dispatcher) Hold(ctx context.Context, events []Parked) error {
	if len(events) == 0 {
		return nil
	}
	for i := range events {
		if ev := events[i].Event; ev == nil || ev.Endpoint == nil || d.hq == nil || !d.durable(ev.Endpoint) {
			return fmt.Errorf("hold event %d: %w", i, errCannotHold)
		}
	}
	select {
	case <-d.started:
	case <-ctx.Done():
		return ctx.Err()
	}
	for i := range events {
		if err := d.acquire(ctx, events[i].Event); err != nil {
			for _, p := range events[:i] {
				d.release(p.Event)
			}
			return err
		}
	}
	at := make([]Parked, 0, len(events))
	for _, g := range d.byLane(events) {
		at = g.l.queueHeld(g.events, at)
	}
	if len(at) == 0 {
		return nil
	}
	if err := d.hq.Hold(ctx, at); err != nil {
		for _, p := range at {
			d.release(p.Event)
		}
		return fmt.Errorf("hold %d events: %w", len(at), err)
	}
	for _, p := range at {
		d.settle(p.Event, settledParked)
	}
	return nil
}

// laneEvents are the events of one Hold call that go to one lane.
type laneEvents struct {
	l      *lane
	events []Parked
}

// byLane groups events by lane, keeping their order within each lane.
func (d *Dispatcher) byLane(events []Parked) []laneEvents {
	var out []laneEvents
	index := map[*lane]int{}
	for _, p := range events {
		l := d.endpointFor(p.Event.Endpoint.URL).laneFor(p.Event)
		i, ok := index[l]
		if !ok {
			i = len(out)
			index[l] = i
			out = append(out, laneEvents{l: l})
		}
		out[i].events = append(out[i].events, p)
	}
	return out
}

// queueHeld queues, behind their row, the events whose row has an earlier
// event in the lane's memory, and appends the others to now. It holds
// parkMu, so that no event is between the queue and the RetryQueue (an
// expire in progress) while it looks.
func (l *lane) queueHeld(events []Parked, now []Parked) []Parked {
	l.parkMu.Lock()
	defer l.parkMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	var rows map[rowKey]struct{}
	for _, p := range events {
		ev := p.Event
		if !ordered(ev) {
			now = append(now, Parked{Event: ev, NextAttempt: holdUntil})
			continue
		}
		if rows == nil {
			rows = l.rowsInMemory()
		}
		if _, behind := rows[keyOf(ev)]; !behind {
			now = append(now, Parked{Event: ev, NextAttempt: holdUntil})
			continue
		}
		// Beyond the bound (no room token): the sweeper holds it as soon
		// as nothing of its row is ahead, or the worker when it pops it.
		l.d.held.add(1)
		l.append(item{ev: ev, at: time.Now(), over: true, hold: true})
		l.d.kickSweep()
	}
	return now
}

// rowsInMemory returns the ordered rows with an event queued or in
// flight on the lane. Called with l.mu held.
func (l *lane) rowsInMemory() map[rowKey]struct{} {
	rows := make(map[rowKey]struct{}, len(l.inflight)+len(l.q)-l.head)
	for _, k := range l.inflight {
		rows[k] = struct{}{}
	}
	for _, it := range l.q[l.head:] {
		if ordered(it.ev) {
			rows[keyOf(it.ev)] = struct{}{}
		}
	}
	return rows
}

// ReleaseHeld waits until every event that Hold queued behind its row is
// held, then releases all held events through the HoldQueue (it
// implements router.Releaser): a release never overtakes a held event
// still in memory. It returns ctx's error, or ErrStopped, when either ends
// first.
func (d *Dispatcher) ReleaseHeld(ctx context.Context) (int64, error) {
	if d.hq == nil {
		return 0, fmt.Errorf("release held events: %w", errCannotHold)
	}
	t := time.NewTicker(holdKick)
	defer t.Stop()
	for {
		zero := d.held.zero()
		if zero == nil {
			break
		}
		d.kickSweep()
		select {
		case <-zero:
		case <-t.C:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-d.stop:
			return 0, ErrStopped
		}
	}
	n, err := d.hq.ReleaseHeld(ctx)
	if err != nil {
		return 0, fmt.Errorf("release held events: %w", err)
	}
	return n, nil
}

// heldCount counts held events waiting in lanes.
type heldCount struct {
	mu   sync.Mutex
	n    int
	done chan struct{} // closed when n drops to 0
}

func (h *heldCount) add(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		h.done = make(chan struct{})
	}
	h.n += n
}

func (h *heldCount) sub(n int) {
	if n == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n -= n
	if h.n == 0 {
		close(h.done)
	}
}

// zero returns nil when nothing is counted, else a channel closed once
// the count drops to zero.
func (h *heldCount) zero() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return nil
	}
	return h.done
}

// holdItems holds a batch of held events the worker popped.
func (d *Dispatcher) holdItems(l *lane, batch []item) {
	l.parkMu.Lock()
	defer l.parkMu.Unlock()
	d.parkItems(batch, "", 0, time.Time{})
}

// store hands ps (built from items, in order) to the RetryQueue: runs of
// held events through HoldQueue.Hold, the others through Park, in order,
// each retried like park. It returns the first error that ended the
// retries (Run cancelled them); the runs stored before it are settled by
// the caller only when all are stored, so it stores nothing more after an
// error.
func (d *Dispatcher) store(ctx context.Context, items []item, ps []Parked) error {
	for start := 0; start < len(items); {
		end := start + 1
		for end < len(items) && items[end].hold == items[start].hold {
			end++
		}
		run := ps[start:end]
		if !items[start].hold {
			if err := d.park(ctx, run); err != nil {
				return err
			}
		} else {
			for i := range run {
				run[i].NextAttempt = holdUntil
			}
			if err := d.putHeld(ctx, run); err != nil {
				return err
			}
			d.held.sub(len(run))
		}
		start = end
	}
	return nil
}

// putHeld calls HoldQueue.Hold until it succeeds or ctx ends, like park.
func (d *Dispatcher) putHeld(ctx context.Context, ps []Parked) error {
	b := newBackOff(parkRetryDelay)
	b.MaxInterval = 10 * time.Second
	for {
		err := d.hq.Hold(ctx, ps)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			d.log.Error().Err(err).Int("events", len(ps)).Msg("hold events abandoned, they stay unsettled")
			return err
		}
		wait := b.NextBackOff()
		d.log.Error().Err(err).Int("events", len(ps)).Dur("retry_in", wait).Msg("hold events, will retry")
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}
