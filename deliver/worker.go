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
		atts, ok := d.attempt(batch)
		if !ok {
			return
		}
		if durable && l.ep.note(atts[0], d.o.BreakAfter, d.o.BreakFor) {
			d.log.Warn().Str("subscriber", batch[0].ev.Endpoint.Subscriber).Int("failures", d.o.BreakAfter).
				Dur("for", d.o.BreakFor).Str("error", atts[0].Error).Msg("endpoint failing, parking its events without trying")
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

// attempt sends batch once, within the global concurrency bound, and
// records the outcome of each event. It returns false, sending nothing,
// when the dispatcher stops while it waits for a slot.
func (d *Dispatcher) attempt(batch []item) ([]Attempt, bool) {
	select {
	case d.sem <- struct{}{}:
	case <-d.stop:
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
	return atts, true
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
