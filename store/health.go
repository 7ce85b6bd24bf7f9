package store

import (
	"fmt"
	"sync"

	"github.com/walhook/walhook/deliver"
)

// health decides auto-disables at the attempt that triggers them, in
// memory, so that deliver stops posting at once (HasParked reports the
// subscriber's rows as parked) instead of when the delivery-log batch is
// written. The decision, with its exact reason, is written to the tables
// by the next recorder batch (pending), which the recorder flushes at once.
// The recorder's SQL still disables on streaks it sees across processes.
type health struct {
	mu        sync.RWMutex
	subs      map[int64]*subscriberHealth // by subscriber id
	suspended map[int64]bool              // subscription ids of disabled subscribers
	pending   map[int64]string            // subscriber id → reason, not yet written
	signal    chan struct{}               // nudges the recorder when pending grows
}

// subscriberHealth is what one process knows of one subscriber.
type subscriberHealth struct {
	known     bool // threshold and streak were read from the tables
	threshold int  // auto_disable_after_failures; 0 never
	streak    int  // consecutive failures
	disabled  bool
	subs      map[int64]bool // its subscriptions
}

func newHealth() *health {
	return &health{
		subs: map[int64]*subscriberHealth{}, suspended: map[int64]bool{},
		pending: map[int64]string{}, signal: make(chan struct{}, 1),
	}
}

func (h *health) get(subscriberID int64) *subscriberHealth {
	s := h.subs[subscriberID]
	if s == nil {
		s = &subscriberHealth{subs: map[int64]bool{}}
		h.subs[subscriberID] = s
	}
	return s
}

// observe counts an attempt; it reports whether it disabled the
// subscriber. Attempts of events never sent (Number 0) do not count.
func (h *health) observe(a *deliver.Attempt) bool {
	ep := a.Event.Endpoint
	if a.Number == 0 || ep.SubscriptionID == 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.get(ep.SubscriberID)
	s.subs[ep.SubscriptionID] = true
	if a.Success() {
		s.streak = 0
		return false
	}
	s.streak++
	if s.disabled || !s.known && !a.Gone() {
		return false
	}
	var reason string
	switch {
	case a.Gone():
		reason = "endpoint answered 410 Gone"
	case s.threshold > 0 && s.streak >= s.threshold:
		reason = fmt.Sprintf("%d consecutive failures", s.streak)
	default:
		return false
	}
	s.disabled = true
	for id := range s.subs {
		h.suspended[id] = true
	}
	h.pending[ep.SubscriberID] = reason
	select {
	case h.signal <- struct{}{}:
	default:
	}
	return true
}

// learn records what the tables say about a subscription and its
// subscriber. A disable decided here but not yet written wins over the
// tables; otherwise the tables win (a re-enable by SQL resets the streak).
func (h *health) learn(s *subRow) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sh := h.get(s.subscriberID)
	sh.subs[s.id] = true
	sh.threshold = s.autoDisable
	if _, waiting := h.pending[s.subscriberID]; waiting {
		h.suspended[s.id] = true
		return
	}
	if !sh.known || sh.disabled != s.suspended {
		sh.streak = s.streak
	}
	sh.known = true
	sh.disabled = s.suspended
	if s.suspended {
		h.suspended[s.id] = true
	} else {
		delete(h.suspended, s.id)
	}
}

// register records that a subscription belongs to a subscriber and the
// subscriber's threshold, as the stream-ordered model says; it changes no
// streak and no disable (the model lags the tables, so it cannot undo a
// disable decided here). A subscription of a disabled subscriber is
// suspended.
func (h *health) register(subscriberID, subscriptionID int64, threshold int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sh := h.get(subscriberID)
	sh.subs[subscriptionID] = true
	sh.threshold = threshold
	sh.known = true
	if sh.disabled {
		h.suspended[subscriptionID] = true
	}
}

// follow applies a subscribers row change seen in the stream: its
// threshold, and a switch into or out of auto-disable. Only a switch
// changes health, so a row image older than a disable decided here (the
// stream lags) never re-enables the subscriber.
func (h *health) follow(subscriberID int64, threshold int, wasSuspended, isSuspended bool) {
	h.mu.Lock()
	sh := h.get(subscriberID)
	sh.threshold = threshold
	sh.known = true
	h.mu.Unlock()
	switch {
	case wasSuspended && !isSuspended:
		h.mu.Lock()
		_, waiting := h.pending[subscriberID]
		h.mu.Unlock()
		if !waiting {
			h.reset(subscriberID)
		}
	case isSuspended && !wasSuspended:
		h.mu.Lock()
		sh.disabled = true
		for id := range sh.subs {
			h.suspended[id] = true
		}
		h.mu.Unlock()
	}
}

// isSuspended reports whether the subscription's subscriber is disabled.
func (h *health) isSuspended(subscriptionID int64) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.suspended[subscriptionID]
}

// replaceSuspended sets the suspended subscriptions from the tables,
// keeping those of disables not yet written.
func (h *health) replaceSuspended(ids []int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	next := make(map[int64]bool, len(ids))
	for _, id := range ids {
		next[id] = true
	}
	for subscriber := range h.pending {
		for id := range h.get(subscriber).subs {
			next[id] = true
		}
	}
	for id, s := range h.subs {
		_, waiting := h.pending[id]
		if s.disabled && !waiting {
			s.disabled = anySuspended(s.subs, next)
		}
	}
	h.suspended = next
}

func anySuspended(subs, suspended map[int64]bool) bool {
	for id := range subs {
		if suspended[id] {
			return true
		}
	}
	return false
}

// suspend marks subscriptions suspended (a disable the tables reported).
func (h *health) suspend(subscriberIDs, subscriptionIDs []int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range subscriberIDs {
		h.get(id).disabled = true
	}
	for _, id := range subscriptionIDs {
		h.suspended[id] = true
	}
}

// reset forgets a subscriber's streak and disable (it was switched on or
// off by the operator).
func (h *health) reset(subscriberID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.get(subscriberID)
	s.streak, s.disabled = 0, false
	delete(h.pending, subscriberID)
	for id := range s.subs {
		delete(h.suspended, id)
	}
}

// takePending returns the disables to write.
func (h *health) takePending() map[int64]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.pending) == 0 {
		return nil
	}
	out := make(map[int64]string, len(h.pending))
	for id, r := range h.pending {
		out[id] = r
	}
	return out
}

// written forgets pending disables once they are in the tables.
func (h *health) written(done map[int64]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, r := range done {
		if h.pending[id] == r {
			delete(h.pending, id)
		}
	}
}
