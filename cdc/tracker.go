package cdc

import (
	"context"
	"sync"
	"sync/atomic"
)

// Tracker computes the flush position: how far the server may forget the
// WAL. It follows transactions in commit order; each transaction counts its
// pending events, and the position advances over a transaction only when it
// and every transaction before it are sealed and have no pending event.
//
// Open, Seal and Discard are called from the goroutine that consumes the
// stream, in stream order. Txn.Add is called before the event it counts is
// handed on; Txn.Done may be called from any goroutine. Settled, Pending and
// Wait may be called from any goroutine.
type Tracker struct {
	mu      sync.Mutex
	queue   []*Txn        // opened, not yet settled, in stream order
	settled LSN           // never decreases
	changed chan struct{} // closed and replaced when something may have settled
}

// Txn counts the pending events of one transaction.
type Txn struct {
	t         *Tracker
	commitLSN LSN
	end       LSN
	pending   atomic.Int64
	sealed    atomic.Bool
}

// NewTracker returns a Tracker whose position starts at start (the slot's
// confirmed flush LSN): Settled never reports less.
func NewTracker(start LSN) *Tracker {
	return &Tracker{settled: start, changed: make(chan struct{})}
}

// Open registers the transaction whose Begin carries commitLSN. Until it is
// sealed (or discarded) the flush position stays before it.
func (t *Tracker) Open(commitLSN LSN) *Txn {
	x := &Txn{t: t, commitLSN: commitLSN}
	t.mu.Lock()
	t.queue = append(t.queue, x)
	t.mu.Unlock()
	return x
}

// CommitLSN returns the commit LSN the transaction was opened with.
func (x *Txn) CommitLSN() LSN { return x.commitLSN }

// Add counts one more pending event. Call it before the event is handed on,
// so that its Done can never come first.
func (x *Txn) Add() { x.pending.Add(1) }

// Done settles one pending event. It is safe from any goroutine and costs an
// atomic decrement (plus a wake-up of waiters when it settles the last event
// of a sealed transaction).
func (x *Txn) Done() {
	if x.pending.Add(-1) == 0 && x.sealed.Load() {
		x.t.wake()
	}
}

// Seal marks the transaction complete: no event will be added, and end (the
// Commit's EndLSN) is the position to report once it is settled.
func (t *Tracker) Seal(x *Txn, end LSN) {
	x.end = end
	x.sealed.Store(true)
	if x.pending.Load() <= 0 {
		t.wake()
	}
}

// Discard drops a transaction that will never be sealed (its stream was
// rolled back, for example after a lost connection). Events already counted
// for it are forgotten.
func (t *Tracker) Discard(x *Txn) {
	t.mu.Lock()
	for i, q := range t.queue {
		if q == x {
			t.queue = append(t.queue[:i], t.queue[i+1:]...)
			break
		}
	}
	t.mu.Unlock()
	t.wake()
}

// Settled returns the flush position: the end LSN of the newest sealed
// transaction that, with every transaction before it, has no pending event.
// When no transaction is open or pending it returns the larger of that and
// dispatched (the position up to which the stream has handed everything
// over, such as a keepalive's WAL end). The result never decreases and is
// never below the Tracker's start.
func (t *Tracker) Settled(dispatched LSN) LSN {
	t.mu.Lock()
	defer t.mu.Unlock()
	before := t.settled
	n := 0
	for _, x := range t.queue {
		if !x.sealed.Load() || x.pending.Load() > 0 {
			break
		}
		if x.end > t.settled {
			t.settled = x.end
		}
		n++
	}
	if n > 0 {
		clear(t.queue[:n])
		t.queue = t.queue[n:]
	}
	if len(t.queue) == 0 && dispatched > t.settled {
		t.settled = dispatched
	}
	if t.settled != before {
		t.broadcast()
	}
	return t.settled
}

// Pending returns the number of transactions opened and not yet settled.
func (t *Tracker) Pending() int {
	t.Settled(0)
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.queue)
}

// Wait blocks until Settled reaches lsn or ctx ends, returning ctx's error
// in the latter case.
func (t *Tracker) Wait(ctx context.Context, lsn LSN) error {
	for {
		t.mu.Lock()
		changed := t.changed
		t.mu.Unlock()
		if t.Settled(0) >= lsn {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// wake tells waiters that something may have settled.
func (t *Tracker) wake() {
	t.mu.Lock()
	t.broadcast()
	t.mu.Unlock()
}

// broadcast wakes every waiter; t.mu must be held.
func (t *Tracker) broadcast() {
	close(t.changed)
	t.changed = make(chan struct{})
}
