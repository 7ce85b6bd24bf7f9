package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walhook/walhook/config"
)

// reasonRemoved is the disabled_reason of a config-managed subscriber that
// is no longer in the YAML file.
const (
	reasonRemoved  = "removed from config"
	reasonInactive = "inactive in config"
)

// SyncConfig makes the tables match the subscribers declared in YAML, in one
// transaction (serialised between processes by an advisory lock); rows
// already matching are not written, so a restart produces no WAL changes:
//
//   - each YAML subscriber is inserted or updated by name and marked
//     config_managed; its counters are kept. A subscriber auto-disabled at
//     runtime stays disabled (its events stay held) until re-enabled with
//     SetSubscriberActive: the YAML states configuration, not health.
//   - its subscriptions are upserted by event; subscriptions missing from
//     YAML are deactivated.
//   - config-managed subscribers no longer in YAML are deactivated, their
//     logs and counters kept.
//   - subscribers created with SQL (config_managed = false) are never
//     touched; a YAML subscriber whose name one of them already uses is an
//     error.
//
// It also sets the subscribers table's column defaults to the YAML
// `defaults:` so that subscribers inserted with SQL get them.
func (db *DB) SyncConfig(ctx context.Context, cfg *config.Config) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('walhook.sync:' || $1, 0))`, db.schema); err != nil {
			return fmt.Errorf("take sync lock: %w", err)
		}
		names := make([]string, 0, len(cfg.Subscribers))
		for i := range cfg.Subscribers {
			s := &cfg.Subscribers[i]
			if err := db.syncSubscriber(ctx, tx, cfg, s); err != nil {
				return err
			}
			names = append(names, s.Name)
		}
		_, err := tx.Exec(ctx, db.render(`UPDATE {{schema}}.subscribers
SET is_active = false, disabled_reason = $2, auto_disabled_at = NULL, updated_at = now()
WHERE config_managed AND NOT (name = ANY($1))
  AND (is_active OR disabled_reason IS DISTINCT FROM $2)`), names, reasonRemoved)
		if err != nil {
			return fmt.Errorf("deactivate subscribers removed from config: %w", err)
		}
		return db.syncDefaults(ctx, tx, cfg.Defaults)
	})
	if err != nil {
		return fmt.Errorf("sync config subscribers: %w", err)
	}
	db.Invalidate("")
	return nil
}

const upsertSubscriberSQL = `INSERT INTO {{schema}}.subscribers AS s (
    name, description, table_name, target_url, projection, secrets, headers,
    max_retries, retry_delay_ms, timeout_ms, auto_disable_after_failures,
    batch_size, unordered, is_active, disabled_reason, config_managed)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
        CASE WHEN $14 THEN NULL ELSE '` + reasonInactive + `' END, true)
ON CONFLICT (name) DO UPDATE SET
    description = EXCLUDED.description,
    table_name = EXCLUDED.table_name,
    target_url = EXCLUDED.target_url,
    projection = EXCLUDED.projection,
    secrets = EXCLUDED.secrets,
    headers = EXCLUDED.headers,
    max_retries = EXCLUDED.max_retries,
    retry_delay_ms = EXCLUDED.retry_delay_ms,
    timeout_ms = EXCLUDED.timeout_ms,
    auto_disable_after_failures = EXCLUDED.auto_disable_after_failures,
    batch_size = EXCLUDED.batch_size,
    unordered = EXCLUDED.unordered,
    is_active = EXCLUDED.is_active AND (s.auto_disabled_at IS NULL),
    disabled_reason = CASE
        WHEN NOT EXCLUDED.is_active THEN EXCLUDED.disabled_reason
        WHEN s.auto_disabled_at IS NOT NULL THEN s.disabled_reason
        ELSE NULL END,
    auto_disabled_at = CASE WHEN EXCLUDED.is_active THEN s.auto_disabled_at END,
    updated_at = now()
WHERE s.config_managed AND (
    s.description, s.table_name, s.target_url, s.projection::text, s.secrets, s.headers, s.max_retries,
    s.retry_delay_ms, s.timeout_ms, s.auto_disable_after_failures, s.batch_size, s.unordered,
    s.is_active, s.disabled_reason
) IS DISTINCT FROM (
    EXCLUDED.description, EXCLUDED.table_name, EXCLUDED.target_url, EXCLUDED.projection::text, EXCLUDED.secrets,
    EXCLUDED.headers, EXCLUDED.max_retries, EXCLUDED.retry_delay_ms, EXCLUDED.timeout_ms,
    EXCLUDED.auto_disable_after_failures, EXCLUDED.batch_size, EXCLUDED.unordered,
    EXCLUDED.is_active AND (s.auto_disabled_at IS NULL),
    CASE WHEN NOT EXCLUDED.is_active THEN EXCLUDED.disabled_reason
         WHEN s.auto_disabled_at IS NOT NULL THEN s.disabled_reason END)
RETURNING id`

func (db *DB) syncSubscriber(ctx context.Context, tx pgx.Tx, cfg *config.Config, s *config.Subscriber) error {
	var proj []byte
	if s.Fields != nil {
		var err error
		if proj, err = json.Marshal(s.Fields); err != nil {
			return fmt.Errorf("encode projection of subscriber %q: %w", s.Name, err)
		}
	}
	headers := s.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	secrets := s.Secrets
	if secrets == nil {
		secrets = []string{}
	}
	d := cfg.Defaults
	var id int64
	err := tx.QueryRow(ctx, db.render(upsertSubscriberSQL),
		s.Name, s.Description, s.Table, s.TargetURL, proj, secrets, headers,
		orInt(s.MaxRetries, d.MaxRetries), millis(s.RetryDelay, d.RetryDelay),
		millis(s.Timeout, d.Timeout), orInt(s.AutoDisableAfterFailures, d.AutoDisableAfterFailures),
		max(s.BatchSize, 1), s.Unordered, s.IsActive,
	).Scan(&id)
	if err == pgx.ErrNoRows {
		// Unchanged, or owned by SQL: find out which.
		var managed bool
		err = tx.QueryRow(ctx, db.render(`SELECT id, config_managed FROM {{schema}}.subscribers WHERE name = $1`), s.Name).Scan(&id, &managed)
		if err == nil && !managed {
			err = pgx.ErrNoRows
		}
	}
	if err == pgx.ErrNoRows {
		return fmt.Errorf("subscriber %q (%s:%d) already exists and was created with SQL, not from the config: rename one of them, or set config_managed = true on the row to let the config own it", s.Name, cfg.File, s.Line)
	}
	if err != nil {
		return fmt.Errorf("upsert subscriber %q: %w", s.Name, err)
	}
	return db.syncSubscriptions(ctx, tx, id, s)
}

func (db *DB) syncSubscriptions(ctx context.Context, tx pgx.Tx, subscriberID int64, s *config.Subscriber) error {
	events := make([]string, 0, len(s.Subscriptions))
	for _, sub := range s.Subscriptions {
		_, err := tx.Exec(ctx, db.render(`INSERT INTO {{schema}}.subscriptions AS s (subscriber_id, event_name, custom_endpoint, is_active)
VALUES ($1, $2, $3, $4)
ON CONFLICT (subscriber_id, event_name) DO UPDATE SET
    custom_endpoint = EXCLUDED.custom_endpoint, is_active = EXCLUDED.is_active, updated_at = now()
WHERE (s.custom_endpoint, s.is_active) IS DISTINCT FROM (EXCLUDED.custom_endpoint, EXCLUDED.is_active)`),
			subscriberID, sub.Event, sub.CustomEndpoint, sub.IsActive)
		if err != nil {
			return fmt.Errorf("upsert subscription %q of subscriber %q: %w", sub.Event, s.Name, err)
		}
		events = append(events, sub.Event)
	}
	_, err := tx.Exec(ctx, db.render(`UPDATE {{schema}}.subscriptions SET is_active = false, updated_at = now()
WHERE subscriber_id = $1 AND is_active AND NOT (event_name = ANY($2))`), subscriberID, events)
	if err != nil {
		return fmt.Errorf("deactivate subscriptions of %q removed from config: %w", s.Name, err)
	}
	return nil
}

// syncDefaults sets the subscribers table's column defaults to d where
// they differ, so that rows inserted with SQL get the configured defaults.
func (db *DB) syncDefaults(ctx context.Context, tx pgx.Tx, d config.Defaults) error {
	want := map[string]string{}
	if d.MaxRetries > 0 {
		want["max_retries"] = strconv.Itoa(d.MaxRetries)
	}
	if d.RetryDelay > 0 {
		want["retry_delay_ms"] = strconv.FormatInt(d.RetryDelay.Milliseconds(), 10)
	}
	if d.Timeout > 0 {
		want["timeout_ms"] = strconv.FormatInt(d.Timeout.Milliseconds(), 10)
	}
	want["auto_disable_after_failures"] = strconv.Itoa(d.AutoDisableAfterFailures)
	rows, err := tx.Query(ctx, `SELECT column_name::text, coalesce(column_default, '') FROM information_schema.columns
WHERE table_schema = $1 AND table_name = 'subscribers'`, db.schema)
	if err != nil {
		return fmt.Errorf("read subscriber column defaults: %w", err)
	}
	have, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var kv [2]string
		err := r.Scan(&kv[0], &kv[1])
		return kv, err
	})
	if err != nil {
		return fmt.Errorf("read subscriber column defaults: %w", err)
	}
	for _, kv := range have {
		v, ok := want[kv[0]]
		if !ok || v == kv[1] {
			continue
		}
		// Identifiers and values are ours (fixed names, formatted integers).
		if _, err := tx.Exec(ctx, db.render(`ALTER TABLE {{schema}}.subscribers ALTER COLUMN `+kv[0]+` SET DEFAULT `+v)); err != nil {
			return fmt.Errorf("set default of subscribers.%s: %w", kv[0], err)
		}
	}
	return nil
}

// orInt returns v, or def when v is negative (unset).
func orInt(v, def int) int {
	if v >= 0 {
		return v
	}
	return def
}

// millis returns d (or def when d is 0) in milliseconds, at least 1.
func millis(d, def time.Duration) int64 {
	if d <= 0 {
		d = def
	}
	return max(d.Milliseconds(), 1)
}
