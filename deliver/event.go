package deliver

import "time"

// Endpoint is where a subscription's events go and how they are sent. It is
// shared by all events of the subscription and must not be modified once an
// event that points at it was submitted; build a new one instead.
type Endpoint struct {
	// SubscriberID and SubscriptionID identify the subscription in
	// walhook's state (0 when not persisted).
	SubscriberID   int64
	SubscriptionID int64
	// Subscriber is the subscriber's name, for logs and metrics.
	Subscriber string
	// URL is the full URL to POST to (custom_endpoint resolved).
	URL string
	// Secrets are whsec_ signing keys; each signs the request and all
	// signatures are sent (key rotation). Empty means unsigned.
	Secrets []string
	// Headers are the subscriber's own headers, added to every request.
	Headers map[string]string
	// Timeout bounds one attempt, from dial to the last byte read.
	Timeout time.Duration
	// MaxRetries is how many attempts follow a failed first one.
	MaxRetries int
	// RetryDelay is the base delay before the first retry; later ones grow
	// exponentially with jitter.
	RetryDelay time.Duration
	// BatchSize is the most events per request; 0 or 1 sends one event per
	// request with the event itself as the body.
	BatchSize int
	// Unordered opts out of per-row ordering.
	Unordered bool
}

// Event is one webhook to deliver: a payload for one subscription.
type Event struct {
	// ID is stable across redeliveries (derived from the WAL position); it
	// is sent as webhook-id.
	ID string
	// Name is the event name ("created", "email_updated", …).
	Name string
	// Table is the schema-qualified source table.
	Table string
	// Endpoint says where and how.
	Endpoint *Endpoint
	// OrderKey identifies the row within the subscription: events with the
	// same Endpoint and OrderKey are delivered in submission order unless
	// the endpoint is Unordered. Empty means no ordering constraint.
	OrderKey string
	// Body is the JSON payload.
	Body []byte
	// CommitTime is when the source transaction committed (for latency).
	CommitTime time.Time
	// Settle is called exactly once, when the event is settled: delivered
	// with a 2xx, durably parked for retry, or deliberately dropped. It may
	// be nil. The dispatcher calls it from its own goroutines, sometimes
	// with a lane locked, or from Submit's caller before Submit returns
	// (an event parked at Submit): it must be quick, must not call Submit
	// and must not take a lock held around Submit.
	Settle func()

	// weight is what the event holds of Options.MaxPendingBytes while it
	// is in the dispatcher's memory (set when it enters).
	weight int64
}
