// Package store owns walhook's own schema in PostgreSQL: embedded,
// versioned migrations; subscribers and subscriptions (from YAML or plain
// SQL); the subscription cache the router reads; the delivery log and
// counters (written in batches off the hot path); the durable retry queue
// worked by every walhook process; the pause control row; and the leader
// lock.
//
// Tables, views and SQL helpers are documented in docs/schema.md.
//
// A DB is opened with Open, migrated with Migrate and closed with Close. Its
// long-running parts are blocking Run methods owned by the caller:
// RunRecorder (delivery log and counters), RunRetries (the retry worker),
// RunParkedRefresh (the per-row order set) and RunCleanup (log retention).
// Open starts no goroutine of walhook's own (the cache library runs its
// own, stopped by Close).
package store
