package admin

import (
	"context"
	"encoding/json"
)

// The interfaces below are what admin consumes; cmd/walhook adapts store,
// router and deliver to them. Method names are distinct across interfaces
// so that one adapter type may implement several. Every method may return
// an error wrapping ErrNotFound or ErrInvalid to get a 404 or 400; any
// other error becomes a 500 whose message is shown to the operator, so it
// must not contain secrets.

// Subscribers reads and changes subscribers.
type Subscribers interface {
	// ListSubscribers returns every subscriber (active or not), ordered by
	// name, each with its subscriptions and their recent deliveries.
	ListSubscribers(ctx context.Context) ([]Subscriber, error)
	// GetSubscriber returns one subscriber, or an error wrapping
	// ErrNotFound.
	GetSubscriber(ctx context.Context, id int64) (Subscriber, error)
	// SetSubscriberActive activates or deactivates a subscriber; it is
	// idempotent. Activating clears its consecutive failures and
	// disabled reason.
	SetSubscriberActive(ctx context.Context, id int64, active bool) error
	// ResetSubscriberCounters zeroes the subscriber's and its
	// subscriptions' delivery counters.
	ResetSubscriberCounters(ctx context.Context, id int64) error
}

// Tester sends a test delivery to a subscriber (webhook_test). It is apart
// from Subscribers because deliver, not store, performs it.
type Tester interface {
	// TestSubscriber posts payload (a default test event when nil) to the
	// subscriber's target URL, signed like any webhook, and reports the
	// outcome. A failed delivery is a TestResult with Success false, not
	// an error; errors are for an unknown subscriber (ErrNotFound) or a
	// payload that cannot be sent (ErrInvalid).
	TestSubscriber(ctx context.Context, id int64, payload json.RawMessage) (TestResult, error)
}

// Logs reads the delivery log.
type Logs interface {
	// ListLogs returns entries matching f, newest (highest ID) first, at
	// most f.Limit of them.
	ListLogs(ctx context.Context, f LogFilter) ([]LogEntry, error)
	// GetLog returns one entry with its payload, or an error wrapping
	// ErrNotFound.
	GetLog(ctx context.Context, id int64) (LogEntry, error)
	// LogStats summarises the last days days (days ≥ 1).
	LogStats(ctx context.Context, days int) (LogStats, error)
	// RecentErrors returns the newest failed entries, at most limit,
	// newest first; payloads may be omitted.
	RecentErrors(ctx context.Context, limit int) ([]LogEntry, error)
}

// Cache manages the subscription cache.
type Cache interface {
	// CacheStats returns the cache's counters since start.
	CacheStats(ctx context.Context) (CacheStats, error)
	// ClearCache drops cached subscriptions for table and event; an empty
	// argument matches every table or every event.
	ClearCache(ctx context.Context, table, event string) error
	// WarmCache loads every active subscription into the cache and
	// returns how many entries it loaded.
	WarmCache(ctx context.Context) (int, error)
}

// Control is the global pause switch (walhook pause/resume).
type Control interface {
	// Pause sets the switch with mode PauseSkip or PauseHold; pausing
	// while paused changes the mode.
	Pause(ctx context.Context, mode string) error
	// Resume clears the switch; resuming while running is a no-op.
	Resume(ctx context.Context) error
	// PauseState returns the switch as last set (it takes effect at its
	// point in the WAL, which may trail slightly).
	PauseState(ctx context.Context) (PauseState, error)
}

// Sender routes a manual event (walhook send): it reads the row by key and
// delivers event to the subscriptions that want it.
type Sender interface {
	// Send returns how many events it routed. key is either a scalar (a
	// string, json.Number or bool) for a table with a one-column primary
	// key, or a map[string]any from column name to value; numbers are
	// json.Number so that large ids stay exact. context is the event's
	// context object, nil when none. An unknown table, event or row is an
	// error wrapping ErrNotFound; a key that does not fit the primary key
	// wraps ErrInvalid.
	Send(ctx context.Context, table string, key any, event string, context json.RawMessage) (int, error)
}

// Retries reads and works the durable retry queue.
type Retries interface {
	// QueueDepth returns how many entries the retry queue holds by status
	// (e.g. "pending", "held", "failed").
	QueueDepth(ctx context.Context) (map[string]int64, error)
	// Redeliver makes the failed entries selected by r due now and returns
	// how many it selected.
	Redeliver(ctx context.Context, r Redelivery) (int, error)
}

// Lag reports how far the replication slot trails the server.
type Lag interface {
	// SlotLagBytes is the WAL distance from the slot's confirmed flush
	// position to the server's current position.
	SlotLagBytes(ctx context.Context) (int64, error)
}

// Health answers the readiness probe.
type Health interface {
	// Ready returns nil when walhook can do its work (replication
	// connected or waiting as a standby, state database reachable), else
	// an error saying what is wrong.
	Ready(ctx context.Context) error
}
