package deliver

import (
	"time"
)

// parkItems parks items in the RetryQueue, in order, in one call, and
// settles them once it succeeded. A Park error is logged and retried with
// backoff: an event is never settled unparked. It returns false, settling
// nothing, when Run cancels the retries (drain timeout). Events that were
// attempted get their next attempt from the backoff (or retryAfter when
// longer); the others are due at once. reason counts them in
// walhook_deliver_parked_total unless it is "".
func (d *Dispatcher) parkItems(items []item, reason string, retryAfter time.Duration) bool {
	now := time.Now()
	ps := make([]Parked, len(items))
	for i, it := range items {
		next := now
		if it.attempts > 0 {
			next = now.Add(nextDelay(it.ev.Endpoint, it.attempts, retryAfter))
		}
		ps[i] = Parked{Event: it.ev, Attempts: it.attempts, LastError: it.lastErr, NextAttempt: next}
	}
	if !d.park(ps) {
		return false
	}
	if reason != "" {
		d.m.parked[reason].Add(float64(len(ps)))
	}
	for _, p := range ps {
		d.settle(p.Event, settledParked)
	}
	return true
}

// park calls RetryQueue.Park until it succeeds or Run cancels requests.
func (d *Dispatcher) park(ps []Parked) bool {
	b := newBackOff(100 * time.Millisecond)
	b.MaxInterval = 10 * time.Second
	for {
		err := d.rq.Park(d.reqCtx, ps)
		if err == nil {
			return true
		}
		if d.reqCtx.Err() != nil {
			d.log.Error().Err(err).Int("events", len(ps)).Msg("park events abandoned at shutdown, they stay unsettled")
			return false
		}
		wait := b.NextBackOff()
		d.log.Error().Err(err).Int("events", len(ps)).Dur("retry_in", wait).Msg("park events, will retry")
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-d.reqCtx.Done():
			t.Stop()
		}
	}
}
