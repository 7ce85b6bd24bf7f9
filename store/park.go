package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walhook/walhook/deliver"
)

var _ deliver.HoldQueue = (*DB)(nil)

// parkSQL inserts events into the retry queue in the order given, each
// with the next value of retry_queue_seq, so that rows of one
// (subscription, order key) parked in order keep that order. An event
// already parked for its subscription (same event id, e.g. its transaction
// was streamed again after a restart) is ignored. Events of a subscription
// that no longer exists are dropped. $11 is the status: 'held' for Hold;
// for Park, 'pending' unless the subscriber is auto-disabled ('disabled'),
// in the tables or in this process's memory ($12, not yet written).
const parkSQL = `INSERT INTO {{schema}}.retry_queue AS q (event_id, subscription_id, subscriber_id,
    event_name, table_name, order_key, seq, payload, status, attempts, next_attempt_at, last_error, commit_time)
SELECT d.event_id, sn.id, sn.subscriber_id, d.event_name, d.table_name, d.order_key, d.seq, d.payload,
       CASE WHEN $11 = 'held' THEN 'held'
            WHEN d.suspended OR (NOT sb.is_active AND sb.auto_disabled_at IS NOT NULL) THEN 'disabled'
            ELSE 'pending' END,
       d.attempts, d.next_at, d.last_error, d.commit_time
FROM (
    SELECT u.*, nextval('{{schema}}.retry_queue_seq') AS seq
    FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bytea[],
                $7::int[], $8::timestamptz[], $9::text[], $10::timestamptz[], $12::bool[]) WITH ORDINALITY
        AS u(event_id, subscription_id, event_name, table_name, order_key, payload,
             attempts, next_at, last_error, commit_time, suspended, ord)
    ORDER BY u.ord
) d
JOIN {{schema}}.subscriptions sn ON sn.id = d.subscription_id
JOIN {{schema}}.subscribers sb ON sb.id = sn.subscriber_id
ON CONFLICT (event_id, subscription_id) DO NOTHING`

// Park durably queues events for retry, in one statement. Once it returns
// nil the events are in the retry queue (or were already: parking is
// idempotent per event id and subscription) and count as settled. Events
// must carry an Endpoint with a SubscriptionID of a subscription in the
// tables; those whose subscription was deleted are dropped. Rows of an
// auto-disabled subscriber are stored as 'disabled' and wait for it to be
// re-enabled.
func (db *DB) Park(ctx context.Context, events []deliver.Parked) error {
	if err := checkParkable(events); err != nil {
		return fmt.Errorf("park %d events: %w", len(events), err)
	}
	// Concurrent Park calls (every lane of an endpoint whose breaker is
	// open) share one statement: far fewer transactions, same durability.
	err := db.parked.group.do(ctx, events, func(ctx context.Context, all []deliver.Parked) error {
		return db.insertParked(ctx, all, "pending")
	})
	if err != nil {
		return fmt.Errorf("park %d events: %w", len(events), err)
	}
	// Wake the worker only for events due soon: during an outage most
	// parked events are due later, and waking for each would spin it.
	soon := time.Now().Add(time.Second)
	for i := range events {
		if events[i].NextAttempt.Before(soon) {
			db.wake()
			break
		}
	}
	return nil
}

// Hold durably queues events produced while walhook is paused in hold mode,
// as 'held': they are not tried until ReleaseHeld. Like Park it is
// idempotent per event id and subscription. Once it returns nil the
// events count as settled (deliver.HoldQueue: the dispatcher, which holds
// a row's events behind its earlier ones, calls their Settle).
func (db *DB) Hold(ctx context.Context, events []deliver.Parked) error {
	if err := db.insertParked(ctx, events, "held"); err != nil {
		return fmt.Errorf("hold %d events: %w", len(events), err)
	}
	return nil
}

// checkParkable refuses events without a persisted subscription, before
// they share a statement with other callers' events.
func checkParkable(events []deliver.Parked) error {
	for i := range events {
		if e := events[i].Event; e == nil || e.Endpoint == nil || e.Endpoint.SubscriptionID == 0 {
			return fmt.Errorf("event %d has no persisted subscription (Endpoint.SubscriptionID is 0); only subscriptions from the state tables can be parked", i)
		}
	}
	return nil
}

func (db *DB) insertParked(ctx context.Context, events []deliver.Parked, status string) error {
	if len(events) == 0 {
		return nil
	}
	n := len(events)
	var (
		ids, names, tables, keys, lastErr = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]*string, n)
		subs                              = make([]int64, n)
		payloads                          = make([][]byte, n)
		attempts                          = make([]int32, n)
		next, commit                      = make([]time.Time, n), make([]*time.Time, n)
		parked                            = make([]parkKey, 0, n)
		suspended                         = make([]bool, n)
	)
	now := time.Now()
	for i := range events {
		p := &events[i]
		e := p.Event
		if e == nil || e.Endpoint == nil || e.Endpoint.SubscriptionID == 0 {
			return fmt.Errorf("event %d has no persisted subscription (Endpoint.SubscriptionID is 0); only subscriptions from the state tables can be parked", i)
		}
		ids[i], subs[i], names[i], tables[i], keys[i] = e.ID, e.Endpoint.SubscriptionID, e.Name, e.Table, e.OrderKey
		payloads[i], attempts[i] = e.Body, int32(p.Attempts)
		next[i] = p.NextAttempt
		if next[i].IsZero() {
			next[i] = now
		}
		if p.LastError != "" {
			s := cleanText(p.LastError, 4096)
			lastErr[i] = &s
		}
		if !e.CommitTime.IsZero() {
			commit[i] = &e.CommitTime
		}
		if e.OrderKey != "" {
			parked = append(parked, parkKey{subs[i], e.OrderKey})
		}
		suspended[i] = db.health.isSuspended(subs[i])
	}
	_, err := db.pool.Exec(ctx, db.q.park, ids, subs, names, tables, keys, payloads, attempts, next, lastErr, commit, status, suspended)
	if err != nil {
		return err
	}
	db.parked.add(parked)
	return nil
}

// HasParked reports whether the subscription has a row for orderKey in the
// retry queue that later events must wait behind (pending, held or
// disabled), from an in-memory set: rows parked by this process are seen
// at once, rows parked by others after the next RefreshParked. It also
// reports true for every key (the empty one included) of a subscription
// whose subscriber is auto-disabled, so that its events park, as
// 'disabled', without being tried. It may report true needlessly (the
// event then parks behind nothing and is delivered by the retry worker),
// never false for a row this process parked and has not delivered.
func (db *DB) HasParked(subscriptionID int64, orderKey string) bool {
	if db.health.isSuspended(subscriptionID) {
		return true
	}
	return orderKey != "" && db.parked.has(subscriptionID, orderKey)
}

// ReleaseHeld makes every held row pending and due now (resume after a
// pause in hold mode); rows of an auto-disabled subscriber become
// 'disabled'. It returns how many rows it released. RunRetries also
// releases held rows by itself whenever the control row says walhook is
// not paused, so events held by a router that was still behind the resume
// point in the WAL are released too.
func (db *DB) ReleaseHeld(ctx context.Context) (int64, error) {
	return db.releaseHeld(ctx, false)
}

// releaseHeld releases held rows; onlyIfResumed does it only while the
// control row says walhook is not paused.
func (db *DB) releaseHeld(ctx context.Context, onlyIfResumed bool) (int64, error) {
	tag, err := db.pool.Exec(ctx, db.render(`UPDATE {{schema}}.retry_queue q SET
    status = CASE WHEN NOT sb.is_active AND sb.auto_disabled_at IS NOT NULL THEN 'disabled' ELSE 'pending' END,
    next_attempt_at = now(), updated_at = now()
FROM {{schema}}.subscribers sb
WHERE q.status = 'held' AND sb.id = q.subscriber_id
  AND NOT ($1 AND (SELECT paused FROM {{schema}}.control WHERE id = 1))`), onlyIfResumed)
	if err != nil {
		return 0, fmt.Errorf("release held events: %w", err)
	}
	if tag.RowsAffected() > 0 {
		db.wake()
	}
	return tag.RowsAffected(), nil
}

// RefreshParked reloads the per-row order set and the auto-disabled
// subscriptions from the tables, to see rows parked or delivered by other
// walhook processes. Call it once before the stream starts; RunRetries
// calls it periodically.
func (db *DB) RefreshParked(ctx context.Context) error {
	db.parked.beginRefresh()
	loaded, err := db.loadParkedKeys(ctx)
	db.parked.endRefresh(loaded)
	if err != nil {
		return fmt.Errorf("refresh parked rows: %w", err)
	}
	rows, err := db.pool.Query(ctx, db.render(`SELECT sn.id FROM {{schema}}.subscriptions sn
JOIN {{schema}}.subscribers sb ON sb.id = sn.subscriber_id
WHERE NOT sb.is_active AND sb.auto_disabled_at IS NOT NULL`))
	if err != nil {
		return fmt.Errorf("refresh auto-disabled subscriptions: %w", err)
	}
	ids, err := collectInt64(rows)
	if err != nil {
		return fmt.Errorf("refresh auto-disabled subscriptions: %w", err)
	}
	db.health.replaceSuspended(ids)
	return nil
}

func (db *DB) loadParkedKeys(ctx context.Context) (map[parkKey]uint64, error) {
	rows, err := db.pool.Query(ctx, db.render(`SELECT DISTINCT subscription_id, order_key FROM {{schema}}.retry_queue
WHERE order_key <> '' AND status IN ('pending', 'held', 'disabled')`))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[parkKey]uint64{}
	for rows.Next() {
		var k parkKey
		if err := rows.Scan(&k.sub, &k.key); err != nil {
			return nil, err
		}
		out[k] = 0
	}
	return out, rows.Err()
}

func collectInt64(rows pgx.Rows) ([]int64, error) {
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
