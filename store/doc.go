// Package store owns walhook's own schema in PostgreSQL: embedded,
// versioned migrations; subscribers and subscriptions (from YAML or plain
// SQL); the subscription cache the router reads; the delivery log and
// counters (written in batches off the hot path); the durable retry queue
// worked by every walhook process; the pause control row; the leader lock;
// and the queries behind the status, logs and cache commands.
//
// Tables, views and SQL helpers are documented in docs/schema.md.
//
// A DB is opened with Open, migrated with Migrate and closed with Close. It
// implements router.Follower (Lookup, Invalidate, and, once StartFollowing
// ran, Apply, Commit and Discard: lookups then answer from a copy of the
// subscription tables as of the stream's position, saved in follow_state
// at every commit that changed it),
// router.RowReader (ReadRow), deliver.Recorder (Record) and
// deliver.HoldQueue (Park, HasParked, Hold, ReleaseHeld: the dispatcher
// holds events through it for the router). Its long-running parts are blocking
// Run methods owned by the caller, each returning nil when its ctx ends:
// RunRecorder (delivery log and counters; Record pushes back when its
// buffer is full, nothing is dropped), RunRetries (the retry worker, which
// also refreshes the per-row order set and releases held rows after a
// resume) and RunCleanup (log retention). Open starts no goroutine of
// walhook's own (the cache library runs its own, stopped by Close).
//
// Events of an auto-disabled subscriber are held, not dropped: Lookup
// routes its subscriptions, HasParked reports every row of them as parked
// so deliver parks them untried, and Park stores them as 'disabled' until
// the subscriber is switched on again.
package store
