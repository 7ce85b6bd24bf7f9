package store

import (
	"context"
	"fmt"
	"time"
)

// Status is the overview of webhook_status.
type Status struct {
	Subscribers, ActiveSubscribers, AutoDisabledSubscribers int
	Subscriptions, ActiveSubscriptions                      int
	// Health counts subscribers by health.
	Health   map[string]int
	Counters Counters // over all subscribers
	Queue    QueueDepth
	Pause    PauseState
	// Last24h counts delivery attempts logged in the last 24 hours.
	Last24h LogStats
}

// Status returns the overview (webhook_status; Subscribers for
// --detailed).
func (db *DB) Status(ctx context.Context) (Status, error) {
	st := Status{}
	c := &st.Counters
	var healthy, warning, critical, inactive int
	err := db.pool.QueryRow(ctx, db.render(`SELECT count(*), count(*) FILTER (WHERE is_active),
    count(*) FILTER (WHERE NOT is_active AND auto_disabled_at IS NOT NULL),
    coalesce(sum(total_deliveries), 0), coalesce(sum(successful_deliveries), 0), coalesce(sum(failed_deliveries), 0),
    max(last_success_at), max(last_failure_at),
    count(*) FILTER (WHERE health = 'healthy'), count(*) FILTER (WHERE health = 'warning'),
    count(*) FILTER (WHERE health = 'critical'), count(*) FILTER (WHERE health = 'inactive')
FROM {{schema}}.subscribers_v`)).Scan(&st.Subscribers, &st.ActiveSubscribers, &st.AutoDisabledSubscribers,
		&c.Total, &c.Successful, &c.Failed, &c.LastSuccessAt, &c.LastFailureAt,
		&healthy, &warning, &critical, &inactive)
	if err != nil {
		return st, fmt.Errorf("read status: %w", err)
	}
	st.Health = map[string]int{"healthy": healthy, "warning": warning, "critical": critical, "inactive": inactive}
	c.SuccessRate = rate(c.Successful, c.Total)
	err = db.pool.QueryRow(ctx, db.render(`SELECT count(*), count(*) FILTER (WHERE s.is_active AND sb.is_active)
FROM {{schema}}.subscriptions s JOIN {{schema}}.subscribers sb ON sb.id = s.subscriber_id`)).Scan(&st.Subscriptions, &st.ActiveSubscriptions)
	if err != nil {
		return st, fmt.Errorf("read status: %w", err)
	}
	if st.Queue, err = db.QueueDepth(ctx); err != nil {
		return st, err
	}
	if st.Pause, err = db.PauseState(ctx); err != nil {
		return st, err
	}
	st.Last24h, err = db.LogStatsSince(ctx, time.Now().Add(-24*time.Hour))
	return st, err
}

func rate(ok, total int64) *float64 {
	if total == 0 {
		return nil
	}
	r := float64(int64(10000*float64(ok)/float64(total)+0.5)) / 100
	return &r
}

// QueueDepth counts retry-queue rows by status.
func (db *DB) QueueDepth(ctx context.Context) (QueueDepth, error) {
	var q QueueDepth
	err := db.pool.QueryRow(ctx, db.render(`SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'held'),
    count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'disabled'),
    min(created_at) FILTER (WHERE status = 'pending')
FROM {{schema}}.retry_queue`)).Scan(&q.Pending, &q.Held, &q.Failed, &q.Disabled, &q.OldestPending)
	if err != nil {
		return q, fmt.Errorf("read retry queue depth: %w", err)
	}
	return q, nil
}

// LogStats summarise delivery-log rows (webhook_logs stats).
type LogStats struct {
	Since                             time.Time
	Total, Successful, Failed         int64
	ClientErrors, ServerErrors        int64
	NoResponse                        int64 // transport errors, timeouts
	SuccessRate                       *float64
	AvgDuration, P95Duration, Slowest time.Duration
	// Events counts distinct event ids attempted.
	Events int64
}

// LogStats summarises the last days days of the delivery log.
func (db *DB) LogStats(ctx context.Context, days int) (LogStats, error) {
	if days <= 0 {
		return LogStats{}, fmt.Errorf("log stats: days must be at least 1, got %d", days)
	}
	return db.LogStatsSince(ctx, time.Now().Add(-time.Duration(days)*24*time.Hour))
}

// LogStatsSince summarises the delivery log from since on.
func (db *DB) LogStatsSince(ctx context.Context, since time.Time) (LogStats, error) {
	s := LogStats{Since: since}
	var avg, p95, slowest float64
	err := db.pool.QueryRow(ctx, db.render(`SELECT count(*), count(*) FILTER (WHERE is_success), count(*) FILTER (WHERE NOT is_success),
    count(*) FILTER (WHERE is_client_error), count(*) FILTER (WHERE is_server_error),
    count(*) FILTER (WHERE response_status IS NULL),
    coalesce(avg(delivery_duration_ms), 0)::float8,
    coalesce(percentile_cont(0.95) WITHIN GROUP (ORDER BY delivery_duration_ms), 0)::float8,
    coalesce(max(delivery_duration_ms), 0)::float8,
    count(DISTINCT event_id)
FROM {{schema}}.delivery_log_v WHERE created_at >= $1`), since).Scan(&s.Total, &s.Successful, &s.Failed,
		&s.ClientErrors, &s.ServerErrors, &s.NoResponse, &avg, &p95, &slowest, &s.Events)
	if err != nil {
		return s, fmt.Errorf("read log stats: %w", err)
	}
	s.SuccessRate = rate(s.Successful, s.Total)
	s.AvgDuration = time.Duration(avg * float64(time.Millisecond))
	s.P95Duration = time.Duration(p95 * float64(time.Millisecond))
	s.Slowest = time.Duration(slowest * float64(time.Millisecond))
	return s, nil
}

// ResetCounters zeroes the delivery counters of a subscriber and its
// subscriptions, or of all when subscriberID is 0. The delivery log is
// kept.
func (db *DB) ResetCounters(ctx context.Context, subscriberID int64) error {
	_, err := db.pool.Exec(ctx, db.render(`DELETE FROM {{schema}}.subscriber_stats WHERE $1 = 0 OR subscriber_id = $1`), subscriberID)
	if err == nil {
		_, err = db.pool.Exec(ctx, db.render(`DELETE FROM {{schema}}.subscription_stats st USING {{schema}}.subscriptions s
WHERE s.id = st.subscription_id AND ($1 = 0 OR s.subscriber_id = $1)`), subscriberID)
	}
	if err != nil {
		return fmt.Errorf("reset counters: %w", err)
	}
	return nil
}
