package deliver

import (
	"time"
)

// process delivers one batch popped from l: it parks what must not be sent
// now, makes the attempt, settles successes and permanent failures, and
// retries (in memory) or parks the rest.
func (d *Dispatcher) process(l *lane, batch []item) {
	durable := d.durable(batch[0].ev.Endpoint)
	if durable {
		batch = d.parkStale(l, batch)
	}
	for len(batch) > 0 {
		atts, ok := d.attempt(l, batch, durable)
		if !ok {
			return
		}
		var retryAfter time.Duration
		batch, retryAfter = d.settleAttempts(batch, atts)
		if len(batch) == 0 || d.exhausted(batch) {
			return
		}
		if durable {
			d.parkFailed(l, batch, retryAfter)
			return
		}
		if !d.wait(nextDelay(batch[0].ev.Endpoint, batch[0].attempts, retryAfter)) {
			return
		}
	}
}

// parkStale parks, in order, the events of batch that waited longer than
// MaxWait and those the RetryQueue reports parked rows for (HasParked:
// the row's own key for ordered events, "" for the others, which a queue
// may use to park all events of a suspended subscription), and returns
// the others.
// It returns nil when parking was abandoned because Run is cancelling.
func (d *Dispatcher) parkStale(l *lane, batch []item) []item {
	l.parkMu.Lock()
	defer l.parkMu.Unlock()
	cutoff := time.Now().Add(-d.o.MaxWait)
	var stale []item
	var reasons []string
	var rows []rowKey
	send := batch[:0]
	for _, it := range batch {
		reason := ""
		switch {
		case it.at.Before(cutoff):
			reason = reasonMaxWait
		case d.behindParked(it.ev, rows):
			reason = reasonOrder
		}
		if reason == "" {
			send = append(send, it)
			continue
		}
		stale, reasons = append(stale, it), append(reasons, reason)
		if ordered(it.ev) {
			rows = append(rows, keyOf(it.ev))
		}
	}
	if len(stale) == 0 {
		return send
	}
	if !d.parkItems(stale, "", 0, time.Time{}) {
		return nil
	}
	for _, r := range reasons {
		d.m.parked[r].Inc()
	}
	return send
}

// behindParked reports whether ev must park behind a parked event: one
// of its row parked earlier in this batch (rows) or in the RetryQueue.
func (d *Dispatcher) behindParked(ev *Event, rows []rowKey) bool {
	if !ordered(ev) {
		return d.rq.HasParked(ev.Endpoint.SubscriptionID, "")
	}
	return containsKey(rows, keyOf(ev)) || d.rq.HasParked(ev.Endpoint.SubscriptionID, ev.OrderKey)
}

// attempt sends batch once and records the outcome of each event. It
// waits for the endpoint to admit the request (probe mode, probe.go) and
// for a slot of the global concurrency bound; then, for a durable
// endpoint, it checks that the subscription is not suspended
// (RetryQueue.HasParked with the empty key) right before the request, and
// parks the batch instead of sending it when it is, or when the endpoint
// did not admit it within the batch's MaxWait. It returns false when it
// sent nothing: the batch was parked, or the dispatcher stops.
func (d *Dispatcher) attempt(l *lane, batch []item, durable bool) ([]Attempt, bool) {
	probe := false
	if !l.ep.proven.Load() {
		var deadline <-chan time.Time
		if durable {
			t := time.NewTimer(time.Until(oldest(batch).Add(d.o.MaxWait)))
			defer t.Stop()
			deadline = t.C
		}
		var ok bool
		if probe, ok = l.ep.admit(d.stop, deadline); !ok {
			if !d.stopping() {
				d.parkUnsent(l, batch, reasonMaxWait)
			}
			return nil, false
		}
	}
	select {
	case d.sem <- struct{}{}:
	case <-d.stop:
		l.ep.leave(probe, nil)
		return nil, false
	}
	ep := batch[0].ev.Endpoint
	if durable && d.rq.HasParked(ep.SubscriptionID, "") {
		<-d.sem
		l.ep.leave(probe, nil)
		d.parkUnsent(l, batch, reasonOrder)
		return nil, false
	}
	evs := make([]*Event, len(batch))
	for i := range batch {
		evs[i] = batch[i].ev
	}
	d.m.inflight.Inc()
	atts := d.client.Send(d.reqCtx, evs)
	d.m.inflight.Dec()
	<-d.sem
	d.m.requests[outcome(atts[0])].Inc()
	d.m.duration.Observe(atts[0].Duration.Seconds())
	for i := range atts {
		batch[i].attempts++
		batch[i].lastErr = atts[i].Error
		atts[i].Number = batch[i].attempts
		d.rec.Record(atts[i])
	}
	if durable {
		d.noteBreaker(l.ep, ep, atts[0])
	}
	l.ep.leave(probe, &atts[0])
	return atts, true
}

// oldest returns when the longest-waiting event of batch was queued.
func oldest(batch []item) time.Time {
	at := batch[0].at
	for _, it := range batch[1:] {
		if it.at.Before(at) {
			at = it.at
		}
	}
	return at
}

// parkUnsent parks a batch that was not sent: its endpoint did not admit
// it in time, or its subscription is suspended.
func (d *Dispatcher) parkUnsent(l *lane, batch []item, reason string) {
	l.parkMu.Lock()
	defer l.parkMu.Unlock()
	d.parkItems(batch, reason, 0, time.Time{})
}

// settleAttempts settles the events delivered and those failed for good,
// and returns the ones to retry with the Retry-After asked for.
func (d *Dispatcher) settleAttempts(batch []item, atts []Attempt) ([]item, time.Duration) {
	retry := batch[:0]
	var retryAfter time.Duration
	for i, a := range atts {
		switch {
		case a.Success():
			d.settle(batch[i].ev, settledDelivered)
		case a.Permanent:
			d.fail(batch[i], "event failed permanently, not retried")
		default:
			retry = append(retry, batch[i])
			retryAfter = max(retryAfter, a.RetryAfter)
		}
	}
	return retry, retryAfter
}

// exhausted settles batch as failed when its events used their retries.
func (d *Dispatcher) exhausted(batch []item) bool {
	if batch[0].attempts <= batch[0].ev.Endpoint.MaxRetries {
		return false
	}
	for _, it := range batch {
		d.fail(it, "event failed, retries exhausted")
	}
	return true
}

// fail logs it as failed and settles it: its attempts are in the Recorder.
func (d *Dispatcher) fail(it item, msg string) {
	ep := it.ev.Endpoint
	d.log.Warn().Str("event_id", it.ev.ID).Str("subscriber", ep.Subscriber).
		Int64("subscription_id", ep.SubscriptionID).Int("attempts", it.attempts).
		Str("error", it.lastErr).Msg(msg)
	d.settle(it.ev, settledFailed)
}

// parkFailed parks the events of a failed attempt with their next attempt
// time from the backoff (or Retry-After when longer).
func (d *Dispatcher) parkFailed(l *lane, batch []item, retryAfter time.Duration) {
	l.parkMu.Lock()
	defer l.parkMu.Unlock()
	d.parkItems(batch, reasonFailed, retryAfter, time.Time{})
}

// parkBroken parks batch, due when the endpoint's breaker closes.
func (d *Dispatcher) parkBroken(l *lane, batch []item, until time.Time) {
	l.parkMu.Lock()
	defer l.parkMu.Unlock()
	d.parkItems(batch, reasonBroken, 0, until)
}

// wait waits for delay; false when the dispatcher stops first.
func (d *Dispatcher) wait(delay time.Duration) bool {
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-d.stop:
		return false
	}
}
