// Package deliver turns events into signed HTTP POSTs: Standard Webhooks
// signatures, one shared keep-alive client, an outbound network policy,
// per-endpoint ordered lanes and concurrency limits, error classification,
// retries with exponential backoff, and parking in a durable retry queue.
//
// # At-least-once
//
// An event handed to Dispatcher.Submit is settled exactly once: its
// Settle func is called once, and only when one of these is true:
//
//   - it was delivered: the receiver answered 2xx;
//   - it was durably parked: RetryQueue.Park returned nil for it (a Park
//     error is logged and Park retried with backoff; an event is never
//     settled unparked), or, handed to Hold, HoldQueue.Hold did;
//   - it failed for good and was logged: its retries are exhausted
//     (Endpoint.MaxRetries) or the failure is Permanent (refused by the
//     network policy, malformed URL or secret). Every attempt went to the
//     Recorder, the failure to the log.
//
// Nothing else settles an event. When the dispatcher stops (Run's context
// ends) events still queued, waiting for a retry in memory, or whose Park
// was cut short by the drain timeout stay unsettled: the caller does not
// confirm their WAL position, so they are delivered again after a restart.
// Receivers therefore see each event at least once and de-duplicate on
// webhook-id (stable, derived from the WAL position); a batch carries each
// event's id in its payload.
//
// # Two modes
//
// Without a RetryQueue, failed attempts are retried in memory on the
// event's lane (delays from RetryInterval, or Retry-After when longer) and
// Submit blocks while the endpoint's queue is full: a slow endpoint then
// holds back its caller.
//
// With a RetryQueue (invariant 3: one bad endpoint never holds the WAL
// hostage), an event is parked when an attempt fails, when its endpoint's
// queue is full at Submit, when it waited in memory longer than MaxWait,
// when its endpoint's breaker is open, or when RetryQueue.HasParked
// reports its row (for unordered events, the empty key) parked, so a row's
// later events wait behind it. Parking is done by the dispatcher's
// goroutines, in batches: Submit never waits for a slow endpoint or for
// the retry queue, only on the global MaxPending bound, and the time an
// event spends in memory is bounded by about MaxWait plus the endpoint's
// Timeout. After BreakAfter consecutive failed attempts an endpoint's
// breaker opens for BreakFor: its events are parked untried, due when it
// closes, so a hanging endpoint stops taking the request slots (Concurrency)
// the others need; then one probe goes through and its outcome closes or
// reopens the breaker.
//
// An endpoint that has not answered with a 2xx yet, or whose last attempt
// failed, is in probe mode: one request in flight at a time, its lanes and
// callers of Enter (the retry queue's worker) alike, each outcome recorded
// before the next request starts, and the subscription's suspension
// (HasParked with the empty key) checked right before each request. So an
// auto-disable decided by the Recorder stops the very next request. A
// batch that waits longer than MaxWait for its turn is parked.
//
// # Order
//
// Per endpoint URL there are PerEndpoint lanes; each sends one request at
// a time, so they also bound the endpoint's concurrency. Events of one row
// (Endpoint.SubscriptionID and Event.OrderKey) share a lane and are sent
// in submission order, unless the Endpoint is Unordered or OrderKey is
// empty. A row's events also reach RetryQueue.Park in submission order:
// the sweeper, which parks events older than MaxWait and events queued
// beyond the bound, leaves an event queued while an earlier event of its
// row is in flight or stays queued (it parks after that event's outcome,
// so within about MaxWait plus the endpoint's Timeout). The retry queue
// must keep a row's parked events in Park order and deliver them one at a
// time. Events handed to Hold (walhook paused in hold mode) are written as
// held behind their row's events still in memory, never before them, and
// ReleaseHeld waits for them.
//
// Events of an Endpoint with SubscriptionID 0 (not persisted) cannot be
// parked: they are retried in memory even when there is a RetryQueue.
//
// # Network policy
//
// Connections are checked at dial time against the resolved address:
// loopback, private, link-local, CGNAT, unspecified, multicast and cloud
// metadata addresses are refused unless delivery.allow_networks allows
// them (metadata addresses only when listed one by one). Redirects are
// never followed, and response bodies are read up to MaxResponseBytes.
package deliver
