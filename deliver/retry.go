package deliver

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// maxRetryInterval caps the delay RetryInterval computes.
const maxRetryInterval = 24 * time.Hour

// RetryInterval is the delay before the next attempt of an event of ep that
// has failed attempts times (attempts >= 1): ep.RetryDelay (1s when unset)
// doubled per earlier failure, randomized by ±50%, capped at 24h. It is
// computed with backoff.ExponentialBackOff and keeps no state, so the
// durable retry queue can use it to schedule the next attempt.
func RetryInterval(ep *Endpoint, attempts int) time.Duration {
	b := newBackOff(ep.RetryDelay)
	d := b.NextBackOff()
	for i := 1; i < attempts && d < maxRetryInterval; i++ {
		d = b.NextBackOff()
	}
	return d
}

// nextDelay is RetryInterval, or Retry-After when the receiver asked for
// longer.
func nextDelay(ep *Endpoint, attempts int, retryAfter time.Duration) time.Duration {
	return max(RetryInterval(ep, attempts), retryAfter)
}

// newBackOff returns an exponential backoff starting at initial, used only
// to compute intervals: it never stops by itself.
func newBackOff(initial time.Duration) *backoff.ExponentialBackOff {
	if initial <= 0 {
		initial = time.Second
	}
	b := &backoff.ExponentialBackOff{
		InitialInterval:     initial,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         maxRetryInterval,
		MaxElapsedTime:      0,
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	b.Reset()
	return b
}
