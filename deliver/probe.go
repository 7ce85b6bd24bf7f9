package deliver

import (
	"context"
	"time"
)

// Probe mode: an endpoint URL whose last attempt in this process failed,
// or that has not answered with a success yet, gets one request at a time:
// the one holding its probe token. Its lanes and the retry queue's worker
// (through Enter) wait for the token, so a failing endpoint receives its
// failures one by one and each outcome is recorded (auto-disable decided)
// before the next request starts. A success ends probe mode. Requests
// already in flight when an endpoint's first failure arrives still
// complete.

// admit waits until the endpoint admits a request: at once while it is
// proven, else when the caller holds its probe token (probe is then true,
// and leave gives it back). It returns ok false, holding nothing, when
// stop or deadline (nil: none) comes first.
func (ep *endpoint) admit(stop <-chan struct{}, deadline <-chan time.Time) (probe, ok bool) {
	if ep.proven.Load() {
		return false, true
	}
	select {
	case ep.probe <- struct{}{}:
		return true, true
	case <-stop:
		return false, false
	case <-deadline:
		return false, false
	}
}

// leave ends a request admit admitted: a's outcome (nil when no request
// was made) sets whether the endpoint is proven (a permanent failure, made
// without reaching it, changes nothing), then the probe token is given
// back. Call it after the attempt was recorded, so that the next request
// sees what the Recorder decided (an auto-disable).
func (ep *endpoint) leave(probe bool, a *Attempt) {
	if a != nil && !a.Permanent {
		ep.proven.Store(a.Success())
	}
	if probe {
		<-ep.probe
	}
}

// Enter admits one request to ep's URL for a caller outside the
// dispatcher (the durable retry queue's worker), under the same probe mode
// as the dispatcher's lanes: at once while the endpoint's last attempt in
// this process succeeded, else when no other request to it is in flight
// here. It returns ctx's error when ctx ends first. leave must be called
// exactly once: after the attempt was recorded, with the outcome of the
// request's first event, or with nil when no request was made. The
// outcome also counts for the endpoint's breaker.
func (d *Dispatcher) Enter(ctx context.Context, ep *Endpoint) (leave func(*Attempt), err error) {
	e := d.endpointFor(ep.URL)
	probe, ok := e.admit(ctx.Done(), nil)
	if !ok {
		return nil, ctx.Err()
	}
	return func(a *Attempt) {
		if a != nil && d.durable(ep) {
			d.noteBreaker(e, ep, *a)
		}
		e.leave(probe, a)
	}, nil
}

// noteBreaker counts a's outcome for the breaker and logs when it opened
// it.
func (d *Dispatcher) noteBreaker(e *endpoint, ep *Endpoint, a Attempt) {
	if e.note(a, d.o.BreakAfter, d.o.BreakFor) {
		d.log.Warn().Str("subscriber", ep.Subscriber).Int("failures", d.o.BreakAfter).
			Dur("for", d.o.BreakFor).Str("error", a.Error).Msg("endpoint failing, parking its events without trying")
	}
}
