package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Page selects a slice of a listing. Limit 0 means 50; it is capped at
// 1000.
type Page struct {
	Limit, Offset int
}

func (p Page) limit() int {
	if p.Limit <= 0 {
		return 50
	}
	return min(p.Limit, 1000)
}

// Counters are delivery counters (record_success / record_failure).
type Counters struct {
	Total, Successful, Failed int64
	ConsecutiveFailures       int
	LastSuccessAt             *time.Time
	LastFailureAt             *time.Time
	// SuccessRate is the percentage of successful deliveries, nil before
	// the first one.
	SuccessRate *float64
}

// QueueDepth counts retry-queue rows by status.
type QueueDepth struct {
	Pending, Held, Failed, Disabled int64
	// OldestPending is when the oldest pending row was parked.
	OldestPending *time.Time
}

// Subscriber is a subscriber as the status commands and the dashboard show
// it: secrets and header values masked.
type Subscriber struct {
	ID                       int64
	Name, Description, Table string
	TargetURL                string
	// Projection is the stored projection JSON (null: the table's).
	Projection json.RawMessage
	// Secrets are masked ("whsec_ab…").
	Secrets []string
	// Headers have masked values.
	Headers                  map[string]string
	MaxRetries               int
	RetryDelay, Timeout      time.Duration
	AutoDisableAfterFailures int
	BatchSize                int
	Unordered                bool
	IsActive                 bool
	ConfigManaged            bool
	DisabledReason           string
	AutoDisabledAt           *time.Time
	// Health is "healthy", "warning", "critical" (failing or
	// auto-disabled) or "inactive" (switched off).
	Health    string
	Counters  Counters
	Queue     QueueDepth
	CreatedAt time.Time
	UpdatedAt time.Time
}

const subscriberColumns = `sb.id, sb.name, sb.description, sb.table_name, sb.target_url, sb.projection, sb.secrets, sb.headers,
    sb.max_retries, sb.retry_delay_ms, sb.timeout_ms, sb.auto_disable_after_failures, sb.batch_size, sb.unordered,
    sb.is_active, sb.config_managed, coalesce(sb.disabled_reason, ''), sb.auto_disabled_at, sb.health,
    sb.total_deliveries, sb.successful_deliveries, sb.failed_deliveries, sb.consecutive_failures,
    sb.last_success_at, sb.last_failure_at, sb.success_rate::float8,
    coalesce(q.pending, 0), coalesce(q.held, 0), coalesce(q.failed, 0), coalesce(q.disabled, 0), q.oldest_pending,
    sb.created_at, sb.updated_at
FROM {{schema}}.subscribers_v sb
LEFT JOIN (
    SELECT subscriber_id,
           count(*) FILTER (WHERE status = 'pending')  AS pending,
           count(*) FILTER (WHERE status = 'held')     AS held,
           count(*) FILTER (WHERE status = 'failed')   AS failed,
           count(*) FILTER (WHERE status = 'disabled') AS disabled,
           min(created_at) FILTER (WHERE status = 'pending') AS oldest_pending
    FROM {{schema}}.retry_queue GROUP BY subscriber_id
) q ON q.subscriber_id = sb.id`

func scanSubscriber(r pgx.CollectableRow) (Subscriber, error) {
	var s Subscriber
	var retryMS, timeoutMS int64
	var proj []byte
	err := r.Scan(&s.ID, &s.Name, &s.Description, &s.Table, &s.TargetURL, &proj, &s.Secrets, &s.Headers,
		&s.MaxRetries, &retryMS, &timeoutMS, &s.AutoDisableAfterFailures, &s.BatchSize, &s.Unordered,
		&s.IsActive, &s.ConfigManaged, &s.DisabledReason, &s.AutoDisabledAt, &s.Health,
		&s.Counters.Total, &s.Counters.Successful, &s.Counters.Failed, &s.Counters.ConsecutiveFailures,
		&s.Counters.LastSuccessAt, &s.Counters.LastFailureAt, &s.Counters.SuccessRate,
		&s.Queue.Pending, &s.Queue.Held, &s.Queue.Failed, &s.Queue.Disabled, &s.Queue.OldestPending,
		&s.CreatedAt, &s.UpdatedAt)
	if proj != nil {
		s.Projection = proj
	}
	s.RetryDelay = time.Duration(retryMS) * time.Millisecond
	s.Timeout = time.Duration(timeoutMS) * time.Millisecond
	for i, sec := range s.Secrets {
		s.Secrets[i] = MaskSecret(sec)
	}
	for k, v := range s.Headers {
		s.Headers[k] = MaskSecret(v)
	}
	return s, err
}

// MaskSecret shows the start of a secret only: "whsec_ab…" (at most 8
// characters, fewer for short values).
func MaskSecret(s string) string {
	n := min(8, len(s)/3)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Subscribers lists subscribers by id, with counters, health and queue
// depth.
func (db *DB) Subscribers(ctx context.Context, p Page) ([]Subscriber, error) {
	rows, err := db.pool.Query(ctx, db.render(`SELECT `+subscriberColumns+` ORDER BY sb.id LIMIT $1 OFFSET $2`), p.limit(), p.Offset)
	if err != nil {
		return nil, fmt.Errorf("list subscribers: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanSubscriber)
	if err != nil {
		return nil, fmt.Errorf("list subscribers: %w", err)
	}
	return out, nil
}

// SubscriberByID returns one subscriber, or ErrNotFound.
func (db *DB) SubscriberByID(ctx context.Context, id int64) (Subscriber, error) {
	return db.oneSubscriber(ctx, `WHERE sb.id = $1`, id)
}

// SubscriberByName returns one subscriber, or ErrNotFound.
func (db *DB) SubscriberByName(ctx context.Context, name string) (Subscriber, error) {
	return db.oneSubscriber(ctx, `WHERE sb.name = $1`, name)
}

func (db *DB) oneSubscriber(ctx context.Context, where string, arg any) (Subscriber, error) {
	rows, err := db.pool.Query(ctx, db.render(`SELECT `+subscriberColumns+` `+where), arg)
	if err != nil {
		return Subscriber{}, fmt.Errorf("read subscriber %v: %w", arg, err)
	}
	s, err := pgx.CollectExactlyOneRow(rows, scanSubscriber)
	if err == pgx.ErrNoRows {
		return s, fmt.Errorf("read subscriber %v: %w", arg, ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("read subscriber %v: %w", arg, err)
	}
	return s, nil
}

// Subscription is a subscription with its derived values.
type Subscription struct {
	ID, SubscriberID   int64
	Subscriber, Table  string
	Event              string
	CustomEndpoint     string
	Endpoint           string // target_url with custom_endpoint applied
	IsActive           bool
	Counters           Counters
	LastResponseStatus *int
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Subscriptions lists subscriptions by id, of one subscriber when
// subscriberID is not 0.
func (db *DB) Subscriptions(ctx context.Context, subscriberID int64, p Page) ([]Subscription, error) {
	rows, err := db.pool.Query(ctx, db.render(`SELECT id, subscriber_id, subscriber_name, table_name, event_name, custom_endpoint,
    endpoint, is_active, total_deliveries, successful_deliveries, failed_deliveries, consecutive_failures,
    last_success_at, last_failure_at, success_rate::float8, last_response_status, created_at, updated_at
FROM {{schema}}.subscriptions_v WHERE ($1 = 0 OR subscriber_id = $1) ORDER BY id LIMIT $2 OFFSET $3`), subscriberID, p.limit(), p.Offset)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Subscription, error) {
		var s Subscription
		c := &s.Counters
		err := r.Scan(&s.ID, &s.SubscriberID, &s.Subscriber, &s.Table, &s.Event, &s.CustomEndpoint, &s.Endpoint,
			&s.IsActive, &c.Total, &c.Successful, &c.Failed, &c.ConsecutiveFailures, &c.LastSuccessAt,
			&c.LastFailureAt, &c.SuccessRate, &s.LastResponseStatus, &s.CreatedAt, &s.UpdatedAt)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return out, nil
}

// LogEntry is one delivery-log row with its derived values.
type LogEntry struct {
	ID                           int64
	SubscriptionID, SubscriberID *int64
	EventID, EventName, Table    string
	AttemptNumber                int
	RequestPayload               string
	ResponseStatus               *int
	ResponseBody                 string
	Duration                     time.Duration
	ErrorMessage                 string
	CreatedAt                    time.Time
	IsSuccess                    bool
	IsClientError                bool
	IsServerError                bool
}

// LogFilter selects delivery-log rows; zero fields match all.
type LogFilter struct {
	SubscriberID, SubscriptionID int64
	EventID                      string
	// ErrorsOnly keeps failed attempts.
	ErrorsOnly bool
	Since      time.Time
}

// Logs lists delivery-log rows, newest first.
func (db *DB) Logs(ctx context.Context, f LogFilter, p Page) ([]LogEntry, error) {
	var since *time.Time
	if !f.Since.IsZero() {
		since = &f.Since
	}
	rows, err := db.pool.Query(ctx, db.render(`SELECT id, subscription_id, subscriber_id, event_id, event_name, table_name,
    attempt_number, coalesce(request_payload, ''), response_status, coalesce(response_body, ''), delivery_duration_ms,
    coalesce(error_message, ''), created_at, is_success, is_client_error, is_server_error
FROM {{schema}}.delivery_log_v
WHERE ($1 = 0 OR subscriber_id = $1) AND ($2 = 0 OR subscription_id = $2) AND ($3 = '' OR event_id = $3)
  AND (NOT $4 OR NOT is_success) AND ($5::timestamptz IS NULL OR created_at >= $5)
ORDER BY id DESC LIMIT $6 OFFSET $7`),
		f.SubscriberID, f.SubscriptionID, f.EventID, f.ErrorsOnly, since, p.limit(), p.Offset)
	if err != nil {
		return nil, fmt.Errorf("list delivery log: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LogEntry, error) {
		var e LogEntry
		var ms int64
		err := r.Scan(&e.ID, &e.SubscriptionID, &e.SubscriberID, &e.EventID, &e.EventName, &e.Table,
			&e.AttemptNumber, &e.RequestPayload, &e.ResponseStatus, &e.ResponseBody, &ms, &e.ErrorMessage,
			&e.CreatedAt, &e.IsSuccess, &e.IsClientError, &e.IsServerError)
		e.Duration = time.Duration(ms) * time.Millisecond
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list delivery log: %w", err)
	}
	return out, nil
}

// RecentErrors returns the newest failed attempts (webhook_logs errors).
func (db *DB) RecentErrors(ctx context.Context, limit int) ([]LogEntry, error) {
	return db.Logs(ctx, LogFilter{ErrorsOnly: true}, Page{Limit: limit})
}

// RetryRow is one retry-queue row.
type RetryRow struct {
	ID, SubscriptionID, SubscriberID int64
	EventID, EventName, Table        string
	OrderKey                         string
	Status                           string
	Attempts                         int
	NextAttemptAt                    time.Time
	LastError                        string
	LastStatus                       *int
	LockedBy                         string
	CreatedAt                        time.Time
}

// RetryRows lists retry-queue rows in queue order, of one status when
// status is not "".
func (db *DB) RetryRows(ctx context.Context, status string, subscriberID int64, p Page) ([]RetryRow, error) {
	rows, err := db.pool.Query(ctx, db.render(`SELECT id, subscription_id, subscriber_id, event_id, event_name, table_name,
    order_key, status, attempts, next_attempt_at, coalesce(last_error, ''), last_status, coalesce(locked_by, ''), created_at
FROM {{schema}}.retry_queue WHERE ($1 = '' OR status = $1) AND ($2 = 0 OR subscriber_id = $2)
ORDER BY seq LIMIT $3 OFFSET $4`), status, subscriberID, p.limit(), p.Offset)
	if err != nil {
		return nil, fmt.Errorf("list retry queue: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RetryRow, error) {
		var q RetryRow
		err := r.Scan(&q.ID, &q.SubscriptionID, &q.SubscriberID, &q.EventID, &q.EventName, &q.Table, &q.OrderKey,
			&q.Status, &q.Attempts, &q.NextAttemptAt, &q.LastError, &q.LastStatus, &q.LockedBy, &q.CreatedAt)
		return q, err
	})
	if err != nil {
		return nil, fmt.Errorf("list retry queue: %w", err)
	}
	return out, nil
}
