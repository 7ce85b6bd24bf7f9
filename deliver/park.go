package deliver

import (
	"context"
	"time"
)

// parkRetryDelay is the first delay before Park is called again after an
// error.
const parkRetryDelay = 100 * time.Millisecond

// parkItems parks items in the RetryQueue, in order, in one call, and
// settles them once it succeeded. A Park error is logged and retried with
// backoff: an event is never settled unparked. It returns false, settling
// nothing, when Run cancels the retries (drain timeout). Events that were
// attempted get their next attempt from the backoff (or retryAfter when
// longer); the others are due at once. reason counts them in
// walhook_deliver_parked_total unless it is "". None is due before
// notBefore.
func (d *Dispatcher) parkItems(items []item, reason string, retryAfter time.Duration, notBefore time.Time) bool {
	now := time.Now()
	ps := make([]Parked, len(items))
	for i, it := range items {
		next := now
		if it.attempts > 0 {
			next = now.Add(nextDelay(it.ev.Endpoint, it.attempts, retryAfter))
		}
		if next.Before(notBefore) {
			next = notBefore
		}
		ps[i] = Parked{Event: it.ev, Attempts: it.attempts, LastError: it.lastErr, NextAttempt: next}
	}
	if d.store(d.reqCtx, items, ps) != nil {
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

// park calls RetryQueue.Park until it succeeds or ctx ends; then it
// returns the last Park error.
func (d *Dispatcher) park(ctx context.Context, ps []Parked) error {
	b := newBackOff(parkRetryDelay)
	b.MaxInterval = 10 * time.Second
	for {
		err := d.rq.Park(ctx, ps)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			d.log.Error().Err(err).Int("events", len(ps)).Msg("park events abandoned, they stay unsettled")
			return err
		}
		wait := b.NextBackOff()
		d.log.Error().Err(err).Int("events", len(ps)).Dur("retry_in", wait).Msg("park events, will retry")
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}
