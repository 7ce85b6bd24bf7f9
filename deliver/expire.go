package deliver

import "time"

// maxSweepPark bounds the events one Park call of a sweep carries.
const maxSweepPark = 1000

// expire starts parking, on each lane, the events that waited longer than
// MaxWait (queued before cutoff) and those queued beyond the bound.
func (ep *endpoint) expire(cutoff time.Time) {
	for _, l := range ep.lanes {
		l.startExpire(cutoff)
	}
}

// startExpire starts an expire goroutine when the lane has something to
// park and none runs.
func (l *lane) startExpire(cutoff time.Time) {
	l.mu.Lock()
	start := !l.expiring && (l.over > 0 || l.head < len(l.q) && l.q[l.head].at.Before(cutoff))
	l.expiring = start
	l.mu.Unlock()
	if start && !l.d.spawn(func() { l.expire(cutoff) }) {
		l.mu.Lock()
		l.expiring = false
		l.mu.Unlock()
	}
}

// expire parks what takeParkable gives, maxSweepPark events per Park call,
// until nothing is left (events queued beyond the bound meanwhile
// included) or a Park is abandoned at shutdown.
func (l *lane) expire(cutoff time.Time) {
	l.parkMu.Lock()
	defer l.parkMu.Unlock()
	defer func() {
		l.mu.Lock()
		l.expiring = false
		l.mu.Unlock()
	}()
	for {
		l.mu.Lock()
		items := l.takeParkable(cutoff, maxSweepPark)
		l.mu.Unlock()
		if len(items) == 0 {
			return
		}
		over, held := 0, 0
		for _, it := range items {
			switch {
			case it.hold:
				held++
			case it.over:
				over++
			}
		}
		if !l.d.parkItems(items, "", 0, time.Time{}) {
			return
		}
		l.d.m.parked[reasonQueueFull].Add(float64(over))
		l.d.m.parked[reasonMaxWait].Add(float64(len(items) - over - held))
	}
}

// takeParkable removes and returns, in queue order, at most limit events
// that waited since before cutoff or were queued beyond the bound, except
// those that must stay behind an earlier event of their row: one in
// flight, or one that stays queued. Events that cannot be parked (see
// Dispatcher.durable) stay. Called with l.mu held.
func (l *lane) takeParkable(cutoff time.Time, limit int) []item {
	held := make(map[rowKey]struct{}, len(l.inflight))
	for _, k := range l.inflight {
		held[k] = struct{}{}
	}
	var out []item
	overLeft := l.over
	w, i := l.head, l.head
	for ; i < len(l.q) && len(out) < limit; i++ {
		it := l.q[i]
		candidate := it.over || it.at.Before(cutoff)
		if it.over {
			overLeft--
		}
		if !candidate && overLeft == 0 {
			break // neither expired (the rest is newer) nor over
		}
		if !candidate || !l.d.durable(it.ev.Endpoint) || isHeld(held, it.ev) {
			if ordered(it.ev) {
				held[keyOf(it.ev)] = struct{}{}
			}
			l.q[w] = it
			w++
			continue
		}
		out = append(out, it)
	}
	if len(out) == 0 {
		return nil
	}
	l.release(out)
	n := copy(l.q[w:], l.q[i:])
	clear(l.q[w+n:])
	l.q = l.q[:w+n]
	if l.head == len(l.q) {
		l.q, l.head = l.q[:0], 0
	}
	return out
}

// isHeld reports whether ev's row is in held.
func isHeld(held map[rowKey]struct{}, ev *Event) bool {
	if !ordered(ev) {
		return false
	}
	_, ok := held[keyOf(ev)]
	return ok
}

func containsKey(keys []rowKey, k rowKey) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}
