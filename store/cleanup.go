package store

import (
	"context"
	"fmt"
	"time"
)

// CleanupLogs deletes delivery-log rows older than olderThan, batch rows
// per statement (default 5000) so that no statement holds locks or bloats
// WAL for long. It returns how many rows it deleted; on error or
// cancellation, how many it had deleted so far.
func (db *DB) CleanupLogs(ctx context.Context, olderThan time.Duration, batch int) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("clean up delivery log: keep period must be positive, got %s", olderThan)
	}
	if batch <= 0 {
		batch = 5000
	}
	cutoff := time.Now().Add(-olderThan)
	sql := db.render(`DELETE FROM {{schema}}.delivery_log WHERE id IN (
    SELECT id FROM {{schema}}.delivery_log WHERE created_at < $1 LIMIT $2)`)
	var total int64
	for {
		tag, err := db.pool.Exec(ctx, sql, cutoff, batch)
		if err != nil {
			return total, fmt.Errorf("clean up delivery log: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(batch) {
			return total, nil
		}
	}
}

// RunCleanup deletes delivery-log rows older than retention every interval
// (logs.retention_days with logs.auto_cleanup), first at once. When several
// walhook processes run it, one cleans at a time (an advisory lock); the
// others skip that round. Errors are logged and retried at the next
// interval; it returns nil when ctx ends.
func (db *DB) RunCleanup(ctx context.Context, retention, interval time.Duration) error {
	if interval <= 0 {
		interval = time.Hour
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n, err := db.cleanupOnce(ctx, retention)
		switch {
		case err != nil && ctx.Err() == nil:
			db.log.Warn().Err(err).Int64("deleted", n).Msg("clean up delivery log")
		case n > 0:
			db.log.Info().Int64("deleted", n).Dur("retention", retention).Msg("delivery log cleaned up")
		}
		t.Reset(interval)
	}
}

// cleanupOnce runs CleanupLogs unless another process holds the cleanup
// lock.
func (db *DB) cleanupOnce(ctx context.Context, retention time.Duration) (int64, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("clean up delivery log: %w", err)
	}
	defer conn.Release()
	const key = `hashtextextended('walhook.cleanup:' || $1, 0)`
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+key+`)`, db.schema).Scan(&got); err != nil {
		return 0, fmt.Errorf("clean up delivery log: take lock: %w", err)
	}
	if !got {
		return 0, nil
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+key+`)`, db.schema); err != nil {
			// The lock dies with the connection: drop it from the pool.
			_ = conn.Conn().Close(uctx)
		}
	}()
	return db.CleanupLogs(ctx, retention, 0)
}

// orphanRetrySQL deletes retry rows whose subscription no longer exists.
// Deleting a subscription deletes its rows (a trigger, migration 0005),
// but a Park that read the subscription before the delete committed can
// still add rows after it; claiming joins subscriptions, so such rows
// would otherwise wait forever. The distinct subscriptions of the queue
// are found by walking retry_queue_key (one index probe per
// subscription), so a sweep costs O(subscriptions), not O(rows).
const orphanRetrySQL = `WITH RECURSIVE subs AS (
    (SELECT subscription_id AS id FROM {{schema}}.retry_queue ORDER BY subscription_id LIMIT 1)
    UNION ALL
    SELECT (SELECT q.subscription_id FROM {{schema}}.retry_queue q
            WHERE q.subscription_id > subs.id ORDER BY q.subscription_id LIMIT 1)
    FROM subs WHERE subs.id IS NOT NULL
)
DELETE FROM {{schema}}.retry_queue q
WHERE q.subscription_id IN (
    SELECT subs.id FROM subs
    WHERE subs.id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM {{schema}}.subscriptions s WHERE s.id = subs.id))`

// dropOrphanRetryRows deletes the retry rows of deleted subscriptions and
// returns how many it deleted. RunRetries calls it periodically.
func (db *DB) dropOrphanRetryRows(ctx context.Context) (int64, error) {
	tag, err := db.pool.Exec(ctx, db.render(orphanRetrySQL))
	if err != nil {
		return 0, fmt.Errorf("delete retry rows of deleted subscriptions: %w", err)
	}
	return tag.RowsAffected(), nil
}

// sweepOrphans runs dropOrphanRetryRows and logs what it did.
func (db *DB) sweepOrphans(ctx context.Context) {
	n, err := db.dropOrphanRetryRows(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		db.log.Warn().Err(err).Msg("delete retry rows of deleted subscriptions")
	case n > 0:
		db.log.Info().Int64("rows", n).Msg("retry rows of deleted subscriptions deleted")
	}
}
