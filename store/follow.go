package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/router"
)

var _ router.Follower = (*DB)(nil)

// model is walhook's subscribers, subscriptions and pause switch as of the
// stream's position. StartFollowing loads it from the tables; from then on only the
// tables' row images change it, in stream order (Apply), so that a change
// takes effect exactly where it is in the stream even when the stream is
// far behind the database. Lookups build router subscriptions from it.
type model struct {
	mu            sync.RWMutex
	subscribers   map[int64]*subscriberRow
	subscriptions map[int64]*subscriptionRow
	// pause is the control row (UpdatedAt and UpdatedBy not kept).
	pause PauseState
	// slot names the saved copies (follow_state); base is the copy as of
	// the last Commit, which Discard returns to.
	slot string
	base *model
}

// clone copies the rows' maps (rows are never changed in place).
func (m *model) clone() *model {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cloneLocked()
}

func (m *model) cloneLocked() *model {
	c := &model{subscribers: make(map[int64]*subscriberRow, len(m.subscribers)),
		subscriptions: make(map[int64]*subscriptionRow, len(m.subscriptions)), pause: m.pause, slot: m.slot}
	for id, s := range m.subscribers {
		c.subscribers[id] = s
	}
	for id, s := range m.subscriptions {
		c.subscriptions[id] = s
	}
	return c
}

// subscriberRow is what routing needs of one subscribers row.
type subscriberRow struct {
	id                      int64
	name, table, targetURL  string
	projection              []byte
	secrets                 []string
	headers                 map[string]string
	maxRetries              int
	retryDelayMS, timeoutMS int64
	autoDisable, batchSize  int
	unordered, active       bool
	// autoDisabled is auto_disabled_at IS NOT NULL.
	autoDisabled bool
}

// subscriptionRow is one subscriptions row.
type subscriptionRow struct {
	id, subscriberID      int64
	event, customEndpoint string
	active                bool
}

// suspended reports an auto-disable: switched off by walhook, events kept.
func (s *subscriberRow) suspended() bool { return !s.active && s.autoDisabled }

// SaveFollowCopy saves the tables' latest state as the copy at the current
// WAL position, for slot. Call it before preparing the slot: a slot created
// after it starts at or past that position, so its first start (and a
// restart right after a crash) has a copy at or before its position, not
// only the tables' latest state. It returns the position.
func (db *DB) SaveFollowCopy(ctx context.Context, slot string) (cdc.LSN, error) {
	m, at, err := db.loadModel(ctx)
	if err != nil {
		return 0, fmt.Errorf("load subscriptions for slot %q: %w", slot, err)
	}
	m.slot = slot
	if err := db.save(ctx, m, at); err != nil {
		return 0, err
	}
	return at, nil
}

// StartFollowing loads walhook's subscription tables into memory for the
// stream of slot, which starts at start, and from then on answers Lookup
// from that copy, which only Apply changes. Call it when the stream is
// about to start and walhook's tables are in its publication (the state
// database is the source database); otherwise Lookup keeps reading the
// tables, bounded by cache.ttl. Calling it again reloads.
//
// The copy is the newest one saved at or before start (Commit saves one at
// the end of every transaction that changed the tables, SaveFollowCopy one
// before the slot is prepared), so that changes the stream will replay
// take effect at their place. With none (a slot walhook did not prepare
// after SaveFollowCopy, e.g. one made by an older walhook), it is the
// tables' latest state, saved as the copy at start. Failure streaks and
// auto-disables are read from the tables' latest state either way: they
// are about delivery now.
//
// newSlot says the slot was just created: copies saved before since (the
// position SaveFollowCopy returned; 0 for all) belong to an earlier slot
// of that name and are deleted, as they miss every change made while no
// slot recorded the WAL.
func (db *DB) StartFollowing(ctx context.Context, slot string, start cdc.LSN, newSlot bool, since cdc.LSN) error {
	if newSlot {
		_, err := db.pool.Exec(ctx, db.render(`DELETE FROM {{schema}}.follow_state WHERE slot_name = $1 AND lsn < $2::pg_lsn`),
			slot, since.String())
		if err != nil {
			return fmt.Errorf("forget subscriptions saved for an earlier slot %q: %w", slot, err)
		}
	}
	saved, at, err := db.loadSaved(ctx, slot, start)
	if err != nil {
		return fmt.Errorf("load subscriptions saved for slot %q: %w", slot, err)
	}
	m, _, err := db.loadModel(ctx)
	if err != nil {
		return fmt.Errorf("load subscriptions to follow the stream: %w", err)
	}
	m.slot = slot
	if saved != nil {
		m.subscribers, m.subscriptions, m.pause = saved.subscribers, saved.subscriptions, saved.pause
		db.log.Info().Str("slot", slot).Stringer("saved_at_lsn", at).Stringer("start_lsn", start).
			Msg("following the subscription tables from the copy saved at the stream's start")
	} else {
		db.log.Warn().Str("slot", slot).Stringer("start_lsn", start).
			Msg("no copy of the subscription tables saved for this slot; following from their latest state")
		if err := db.save(ctx, m, start); err != nil {
			return err
		}
	}
	m.base = m.clone()
	db.follow.Lock()
	db.model, db.lost, db.slot = m, time.Time{}, slot
	db.follow.Unlock()
	db.cache.invalidateAll()
	return nil
}

// Commit saves the copy as of the end of the transaction that ends at
// endLSN (router.Follower) and makes it the state Discard returns to.
func (db *DB) Commit(ctx context.Context, endLSN cdc.LSN) error {
	m := db.following()
	if m == nil {
		return nil
	}
	snap := m.clone()
	if err := db.save(ctx, snap, endLSN); err != nil {
		return err
	}
	m.mu.Lock()
	m.base = snap
	m.mu.Unlock()
	return nil
}

// save writes m as the copy at lsn. It deletes the copies of the slot that
// no restart can use any more: those older than the newest one at or
// before the slot's confirmed position, which only moves forward.
func (db *DB) save(ctx context.Context, m *model, lsn cdc.LSN) error {
	subscribers, subscriptions, control, err := m.marshal()
	if err != nil {
		return err
	}
	_, err = db.pool.Exec(ctx, db.render(`WITH saved AS (
    INSERT INTO {{schema}}.follow_state (slot_name, lsn, subscribers, subscriptions, control)
    VALUES ($1, $2::pg_lsn, $3, $4, $5)
    ON CONFLICT (slot_name, lsn) DO UPDATE SET subscribers = EXCLUDED.subscribers,
        subscriptions = EXCLUDED.subscriptions, control = EXCLUDED.control, saved_at = now())
DELETE FROM {{schema}}.follow_state WHERE slot_name = $1 AND lsn < (
    SELECT max(lsn) FROM {{schema}}.follow_state WHERE slot_name = $1 AND lsn <= (
        SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1))`),
		m.slot, lsn.String(), subscribers, subscriptions, control)
	if err != nil {
		return fmt.Errorf("save subscriptions at %s: %w", lsn, err)
	}
	return nil
}

// Discard returns the copy to its state at the last Commit
// (router.Follower): the abandoned transaction will be applied again.
func (db *DB) Discard() {
	m := db.following()
	if m == nil {
		return
	}
	m.mu.Lock()
	if m.base != nil {
		m.subscribers, m.subscriptions, m.pause = m.base.subscribers, m.base.subscriptions, m.base.pause
		m.base = m.base.cloneLocked()
	}
	m.mu.Unlock()
	db.cache.invalidateAll()
}

// loadSaved returns the newest copy saved for slot at or before start, or
// nil when there is none.
func (db *DB) loadSaved(ctx context.Context, slot string, start cdc.LSN) (*model, cdc.LSN, error) {
	var subscribers, subscriptions, control []byte
	var at string
	err := db.pool.QueryRow(ctx, db.render(`SELECT lsn::text, subscribers, subscriptions, control FROM {{schema}}.follow_state
WHERE slot_name = $1 AND lsn <= $2::pg_lsn ORDER BY lsn DESC LIMIT 1`), slot, start.String()).
		Scan(&at, &subscribers, &subscriptions, &control)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	lsn, err := cdc.ParseLSN(at)
	if err != nil {
		return nil, 0, err
	}
	m, err := unmarshalModel(subscribers, subscriptions, control)
	return m, lsn, err
}

// FollowedPause returns the pause state of the copy StartFollowing loaded
// (the one saved at the slot's position, so a stream that resumes inside
// or before a pause window starts in the right state); ok is false when
// walhook does not follow the tables.
func (db *DB) FollowedPause() (p PauseState, ok bool) {
	m := db.following()
	if m == nil {
		return p, false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.pause, true
}

// following returns the model, or nil when Lookup reads the tables.
func (db *DB) following() *model {
	db.follow.RLock()
	defer db.follow.RUnlock()
	return db.model
}

// followReloadAfter bounds how often a model that missed a change is
// reloaded (a row image that cannot be read would otherwise make every
// lookup reload).
const followReloadAfter = time.Second

// recoverModel reloads a model that Apply dropped (lost is set), at most
// once per followReloadAfter, and returns it; nil while there is none.
func (db *DB) recoverModel(ctx context.Context) *model {
	db.follow.Lock()
	lost := db.lost
	retry := db.model == nil && !lost.IsZero() && time.Since(lost) >= followReloadAfter
	if retry {
		db.lost = time.Now()
	}
	db.follow.Unlock()
	if !retry {
		return nil
	}
	m, _, err := db.loadModel(ctx)
	if err != nil {
		db.log.Warn().Err(err).Msg("reload subscriptions to follow the stream")
		return nil
	}
	db.follow.Lock()
	m.slot = db.slot
	m.base = m.clone()
	db.model, db.lost = m, time.Time{}
	db.follow.Unlock()
	db.cache.invalidateAll()
	db.log.Info().Msg("subscriptions reloaded from the tables; following the stream again")
	return m
}

const (
	loadSubscribersSQL = `SELECT sb.id, sb.name, sb.table_name, sb.target_url, sb.projection, sb.secrets, sb.headers,
       sb.max_retries, sb.retry_delay_ms, sb.timeout_ms, sb.auto_disable_after_failures, sb.batch_size,
       sb.unordered, sb.is_active, sb.auto_disabled_at IS NOT NULL, coalesce(st.consecutive_failures, 0)
FROM {{schema}}.subscribers sb
LEFT JOIN {{schema}}.subscriber_stats st ON st.subscriber_id = sb.id`
	loadSubscriptionRowsSQL = `SELECT id, subscriber_id, event_name, custom_endpoint, is_active FROM {{schema}}.subscriptions`
)

// loadModel reads the tables and the control row in one snapshot and
// teaches health what they say (thresholds, streaks, auto-disables). at is
// the WAL position read as the snapshot was taken: every transaction
// committed before it is in the copy (but for one committing in the same
// microseconds, not yet visible).
func (db *DB) loadModel(ctx context.Context) (m *model, at cdc.LSN, err error) {
	m = &model{subscribers: map[int64]*subscriberRow{}, subscriptions: map[int64]*subscriptionRow{}}
	streaks := map[int64]int{}
	err = pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// The first statement takes the snapshot.
		if err := tx.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&at); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, db.render(loadSubscribersSQL))
		if err != nil {
			return err
		}
		for rows.Next() {
			s, streak := &subscriberRow{}, 0
			if err := rows.Scan(&s.id, &s.name, &s.table, &s.targetURL, &s.projection, &s.secrets, &s.headers,
				&s.maxRetries, &s.retryDelayMS, &s.timeoutMS, &s.autoDisable, &s.batchSize,
				&s.unordered, &s.active, &s.autoDisabled, &streak); err != nil {
				rows.Close()
				return err
			}
			m.subscribers[s.id] = s
			streaks[s.id] = streak
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, db.render(loadSubscriptionRowsSQL))
		if err != nil {
			return err
		}
		for rows.Next() {
			s := &subscriptionRow{}
			if err := rows.Scan(&s.id, &s.subscriberID, &s.event, &s.customEndpoint, &s.active); err != nil {
				rows.Close()
				return err
			}
			m.subscriptions[s.id] = s
		}
		if err := rows.Err(); err != nil {
			return err
		}
		err = tx.QueryRow(ctx, db.render(`SELECT paused, mode FROM {{schema}}.control WHERE id = 1`)).
			Scan(&m.pause.Paused, &m.pause.Mode)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	for _, sn := range m.subscriptions {
		if sb := m.subscribers[sn.subscriberID]; sb != nil {
			r := joinRow(sb, sn)
			r.streak = streaks[sb.id]
			db.health.learn(&r)
		}
	}
	return m, at, nil
}

// joinRow is one subscription with its subscriber, as loadSubscriptionsSQL
// would read it.
func joinRow(sb *subscriberRow, sn *subscriptionRow) subRow {
	return subRow{
		id: sn.id, event: sn.event, customEndpoint: sn.customEndpoint, active: sn.active,
		subscriberID: sb.id, name: sb.name, table: sb.table, targetURL: sb.targetURL,
		projection: sb.projection, secrets: sb.secrets, headers: sb.headers,
		maxRetries: sb.maxRetries, retryDelayMS: sb.retryDelayMS, timeoutMS: sb.timeoutMS,
		batchSize: sb.batchSize, unordered: sb.unordered, subscriberActive: sb.active,
		suspended: sb.autoDisabled, autoDisable: sb.autoDisable,
	}
}

// lookupModel builds the subscriptions of table to event from m, ordered
// by subscriber and subscription id as the tables would be read.
func (db *DB) lookupModel(m *model, table, event string) []*router.Subscription {
	db.cache.loads.Add(1)
	m.mu.RLock()
	var raw []subRow
	for _, sn := range m.subscriptions {
		if sn.event != event {
			continue
		}
		if sb := m.subscribers[sn.subscriberID]; sb != nil && sb.table == table {
			raw = append(raw, joinRow(sb, sn))
		}
	}
	m.mu.RUnlock()
	return db.buildAll(raw)
}

// allModel builds every subscription of m.
func (db *DB) allModel(m *model) []*router.Subscription {
	db.cache.loads.Add(1)
	m.mu.RLock()
	raw := make([]subRow, 0, len(m.subscriptions))
	for _, sn := range m.subscriptions {
		if sb := m.subscribers[sn.subscriberID]; sb != nil {
			raw = append(raw, joinRow(sb, sn))
		}
	}
	m.mu.RUnlock()
	return db.buildAll(raw)
}

// buildAll sorts rows by subscriber and subscription id and builds them;
// a row that cannot be built is logged and returned inactive. Health learns
// which subscriptions each subscriber has.
func (db *DB) buildAll(raw []subRow) []*router.Subscription {
	sort.Slice(raw, func(i, j int) bool {
		if raw[i].subscriberID != raw[j].subscriberID {
			return raw[i].subscriberID < raw[j].subscriberID
		}
		return raw[i].id < raw[j].id
	})
	out := make([]*router.Subscription, 0, len(raw))
	for i := range raw {
		s, err := db.buildSubscription(&raw[i])
		if err != nil {
			db.log.Error().Err(err).Int64("subscription_id", raw[i].id).Str("subscriber", raw[i].name).
				Msg("subscription cannot be used; its events are dropped until it is fixed")
			s.Active = false
		}
		db.health.register(raw[i].subscriberID, raw[i].id, raw[i].autoDisable)
		out = append(out, s)
	}
	return out
}

// Apply changes the in-memory copy of walhook's subscription tables by one
// change from the stream (router.Follower). Before StartFollowing, or for
// a row image it cannot read, it drops the cache instead; a model that
// missed a change is reloaded from the tables at the next lookup.
func (db *DB) Apply(c *cdc.Change) {
	defer db.cache.invalidateAll()
	m := db.following()
	if m == nil {
		return
	}
	if err := db.apply(m, c); err != nil {
		db.log.Error().Err(err).Str("change", c.Kind.String()).
			Msg("cannot follow a change of the subscription tables; reading them as they are now instead")
		db.follow.Lock()
		if db.model == m {
			db.model, db.lost = nil, time.Now()
		}
		db.follow.Unlock()
	}
}

func (db *DB) apply(m *model, c *cdc.Change) error {
	if c.Kind == cdc.Truncate {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, rel := range c.Relations {
			switch rel.QualifiedName() {
			case db.schema + ".subscribers":
				clear(m.subscribers)
				clear(m.subscriptions) // TRUNCATE … CASCADE, or it failed
			case db.schema + ".subscriptions":
				clear(m.subscriptions)
			}
		}
		return nil
	}
	switch c.Relation.QualifiedName() {
	case db.schema + ".subscribers":
		return db.applySubscriber(m, c)
	case db.schema + ".subscriptions":
		return applySubscription(m, c)
	case db.schema + ".control":
		return applyControl(m, c)
	}
	return nil
}

// applyControl records the pause switch as the router reads it: a deleted
// row is not paused.
func applyControl(m *model, c *cdc.Change) error {
	var p PauseState
	if c.Kind != cdc.Delete {
		img := image{rel: c.Relation, row: c.New, old: c.Old}
		var err error
		if p.Paused, err = img.boolean("paused"); err != nil {
			return fmt.Errorf("control row: %w", err)
		}
		if p.Mode, err = img.str("mode"); err != nil {
			return fmt.Errorf("control row: %w", err)
		}
	}
	m.mu.Lock()
	m.pause = p
	m.mu.Unlock()
	return nil
}

func (db *DB) applySubscriber(m *model, c *cdc.Change) error {
	img := image{rel: c.Relation}
	var old *subscriberRow
	if c.Old != nil && !c.OldIsKey {
		o, err := img.with(c.Old, nil).subscriber()
		if err != nil {
			return fmt.Errorf("old row of %s: %w", c.Relation.QualifiedName(), err)
		}
		old = o
	}
	if c.Kind == cdc.Delete {
		id, err := img.with(c.Old, nil).int64("id")
		if err != nil {
			return fmt.Errorf("deleted row of %s: %w", c.Relation.QualifiedName(), err)
		}
		m.mu.Lock()
		delete(m.subscribers, id)
		m.mu.Unlock()
		return nil
	}
	s, err := img.with(c.New, c.Old).subscriber()
	if err != nil {
		return fmt.Errorf("new row of %s: %w", c.Relation.QualifiedName(), err)
	}
	m.mu.Lock()
	if old == nil {
		old = m.subscribers[s.id]
	}
	if c.Old != nil && old != nil && old.id != s.id {
		delete(m.subscribers, old.id)
	}
	m.subscribers[s.id] = s
	m.mu.Unlock()
	db.health.follow(s.id, s.autoDisable, old != nil && old.suspended(), s.suspended())
	return nil
}

func applySubscription(m *model, c *cdc.Change) error {
	img := image{rel: c.Relation}
	if c.Kind == cdc.Delete {
		id, err := img.with(c.Old, nil).int64("id")
		if err != nil {
			return fmt.Errorf("deleted row of %s: %w", c.Relation.QualifiedName(), err)
		}
		m.mu.Lock()
		delete(m.subscriptions, id)
		m.mu.Unlock()
		return nil
	}
	s, err := img.with(c.New, c.Old).subscription()
	if err != nil {
		return fmt.Errorf("new row of %s: %w", c.Relation.QualifiedName(), err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.Old != nil {
		if oldID, err := img.with(c.Old, nil).int64("id"); err == nil && oldID != s.id {
			delete(m.subscriptions, oldID)
		}
	}
	m.subscriptions[s.id] = s
	return nil
}

// image reads one row image of a subscription table by column name. A
// TOASTed value the server did not resend (cdc.Unchanged) is taken from
// the old image, which REPLICA IDENTITY FULL makes whole.
type image struct {
	rel      *cdc.Relation
	row, old cdc.Row
}

func (im image) with(row, old cdc.Row) image { return image{rel: im.rel, row: row, old: old} }

// value returns the column's value; ok is false when the table has no such
// column.
func (im image) value(col string) (any, error) {
	i := im.rel.ColumnIndex(col)
	if i < 0 || i >= len(im.row) {
		return nil, fmt.Errorf("no column %s", col)
	}
	v := im.row[i]
	if _, unchanged := v.(cdc.Unchanged); unchanged {
		if i >= len(im.old) {
			return nil, fmt.Errorf("column %s: unchanged TOAST value without an old row", col)
		}
		v = im.old[i]
		if _, still := v.(cdc.Unchanged); still {
			return nil, fmt.Errorf("column %s: unchanged TOAST value without an old row", col)
		}
	}
	return v, nil
}

func (im image) int64(col string) (int64, error) {
	v, err := im.value(col)
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("column %s: %T is not an integer", col, v)
	}
	return n, nil
}

func (im image) int(col string) (int, error) {
	n, err := im.int64(col)
	return int(n), err
}

func (im image) str(col string) (string, error) {
	v, err := im.value(col)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("column %s: %T is not text", col, v)
	}
	return s, nil
}

func (im image) boolean(col string) (bool, error) {
	v, err := im.value(col)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("column %s: %T is not a boolean", col, v)
	}
	return b, nil
}

// notNull reports whether the column holds a value.
func (im image) notNull(col string) (bool, error) {
	v, err := im.value(col)
	return v != nil, err
}

// json returns a json or jsonb column as its text; nil for NULL.
func (im image) json(col string) ([]byte, error) {
	v, err := im.value(col)
	if err != nil || v == nil {
		return nil, err
	}
	switch j := v.(type) {
	case json.RawMessage:
		return j, nil
	case string:
		return []byte(j), nil
	}
	return nil, fmt.Errorf("column %s: %T is not JSON", col, v)
}

// texts returns a text[] column; NULL elements are refused.
func (im image) texts(col string) ([]string, error) {
	v, err := im.value(col)
	if err != nil || v == nil {
		return nil, err
	}
	elems, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("column %s: %T is not a text array", col, v)
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		if out[i], ok = e.(string); !ok {
			return nil, fmt.Errorf("column %s: element %d is %T, not text", col, i+1, e)
		}
	}
	return out, nil
}

// subscriber reads a subscribers row image.
func (im image) subscriber() (*subscriberRow, error) {
	s := &subscriberRow{}
	var headers []byte
	var err error
	for _, read := range []func() error{
		func() (e error) { s.id, e = im.int64("id"); return },
		func() (e error) { s.name, e = im.str("name"); return },
		func() (e error) { s.table, e = im.str("table_name"); return },
		func() (e error) { s.targetURL, e = im.str("target_url"); return },
		func() (e error) { s.projection, e = im.json("projection"); return },
		func() (e error) { s.secrets, e = im.texts("secrets"); return },
		func() (e error) { headers, e = im.json("headers"); return },
		func() (e error) { s.maxRetries, e = im.int("max_retries"); return },
		func() (e error) { s.retryDelayMS, e = im.int64("retry_delay_ms"); return },
		func() (e error) { s.timeoutMS, e = im.int64("timeout_ms"); return },
		func() (e error) { s.autoDisable, e = im.int("auto_disable_after_failures"); return },
		func() (e error) { s.batchSize, e = im.int("batch_size"); return },
		func() (e error) { s.unordered, e = im.boolean("unordered"); return },
		func() (e error) { s.active, e = im.boolean("is_active"); return },
		func() (e error) { s.autoDisabled, e = im.notNull("auto_disabled_at"); return },
	} {
		if err = read(); err != nil {
			return nil, err
		}
	}
	if len(headers) > 0 {
		if err := json.Unmarshal(headers, &s.headers); err != nil {
			return nil, fmt.Errorf("column headers: %w", err)
		}
	}
	return s, nil
}

// subscription reads a subscriptions row image.
func (im image) subscription() (*subscriptionRow, error) {
	s := &subscriptionRow{}
	for _, read := range []func() error{
		func() (e error) { s.id, e = im.int64("id"); return },
		func() (e error) { s.subscriberID, e = im.int64("subscriber_id"); return },
		func() (e error) { s.event, e = im.str("event_name"); return },
		func() (e error) { s.customEndpoint, e = im.str("custom_endpoint"); return },
		func() (e error) { s.active, e = im.boolean("is_active"); return },
	} {
		if err := read(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// savedSubscriber and savedSubscription are the JSON of rows in
// follow_state.
type savedSubscriber struct {
	ID           int64             `json:"id"`
	Name         string            `json:"name"`
	Table        string            `json:"table_name"`
	TargetURL    string            `json:"target_url"`
	Projection   json.RawMessage   `json:"projection,omitempty"`
	Secrets      []string          `json:"secrets"`
	Headers      map[string]string `json:"headers,omitempty"`
	MaxRetries   int               `json:"max_retries"`
	RetryDelayMS int64             `json:"retry_delay_ms"`
	TimeoutMS    int64             `json:"timeout_ms"`
	AutoDisable  int               `json:"auto_disable_after_failures"`
	BatchSize    int               `json:"batch_size"`
	Unordered    bool              `json:"unordered"`
	Active       bool              `json:"is_active"`
	AutoDisabled bool              `json:"auto_disabled"`
}

type savedSubscription struct {
	ID             int64  `json:"id"`
	SubscriberID   int64  `json:"subscriber_id"`
	Event          string `json:"event_name"`
	CustomEndpoint string `json:"custom_endpoint"`
	Active         bool   `json:"is_active"`
}

// savedControl is the JSON of the control row in follow_state.
type savedControl struct {
	Paused bool   `json:"paused"`
	Mode   string `json:"mode"`
}

// marshal returns both tables of m as JSON arrays ordered by id, and the
// control row.
func (m *model) marshal() (subscribers, subscriptions, control []byte, err error) {
	sbs := make([]savedSubscriber, 0, len(m.subscribers))
	for _, s := range m.subscribers {
		sbs = append(sbs, savedSubscriber{ID: s.id, Name: s.name, Table: s.table, TargetURL: s.targetURL,
			Projection: s.projection, Secrets: s.secrets, Headers: s.headers, MaxRetries: s.maxRetries,
			RetryDelayMS: s.retryDelayMS, TimeoutMS: s.timeoutMS, AutoDisable: s.autoDisable,
			BatchSize: s.batchSize, Unordered: s.unordered, Active: s.active, AutoDisabled: s.autoDisabled})
	}
	sort.Slice(sbs, func(i, j int) bool { return sbs[i].ID < sbs[j].ID })
	sns := make([]savedSubscription, 0, len(m.subscriptions))
	for _, s := range m.subscriptions {
		sns = append(sns, savedSubscription{ID: s.id, SubscriberID: s.subscriberID, Event: s.event,
			CustomEndpoint: s.customEndpoint, Active: s.active})
	}
	sort.Slice(sns, func(i, j int) bool { return sns[i].ID < sns[j].ID })
	if subscribers, err = json.Marshal(sbs); err != nil {
		return nil, nil, nil, fmt.Errorf("encode subscribers: %w", err)
	}
	if subscriptions, err = json.Marshal(sns); err != nil {
		return nil, nil, nil, fmt.Errorf("encode subscriptions: %w", err)
	}
	if control, err = json.Marshal(savedControl{Paused: m.pause.Paused, Mode: m.pause.Mode}); err != nil {
		return nil, nil, nil, fmt.Errorf("encode control: %w", err)
	}
	return subscribers, subscriptions, control, nil
}

// unmarshalModel reads what marshal wrote.
func unmarshalModel(subscribers, subscriptions, control []byte) (*model, error) {
	var sbs []savedSubscriber
	var sns []savedSubscription
	var ctl savedControl
	if err := json.Unmarshal(subscribers, &sbs); err != nil {
		return nil, fmt.Errorf("decode saved subscribers: %w", err)
	}
	if err := json.Unmarshal(subscriptions, &sns); err != nil {
		return nil, fmt.Errorf("decode saved subscriptions: %w", err)
	}
	if err := json.Unmarshal(control, &ctl); err != nil {
		return nil, fmt.Errorf("decode saved control: %w", err)
	}
	m := &model{subscribers: make(map[int64]*subscriberRow, len(sbs)), subscriptions: make(map[int64]*subscriptionRow, len(sns)),
		pause: PauseState{Paused: ctl.Paused, Mode: ctl.Mode}}
	for _, s := range sbs {
		m.subscribers[s.ID] = &subscriberRow{id: s.ID, name: s.Name, table: s.Table, targetURL: s.TargetURL,
			projection: s.Projection, secrets: s.Secrets, headers: s.Headers, maxRetries: s.MaxRetries,
			retryDelayMS: s.RetryDelayMS, timeoutMS: s.TimeoutMS, autoDisable: s.AutoDisable,
			batchSize: s.BatchSize, unordered: s.Unordered, active: s.Active, autoDisabled: s.AutoDisabled}
	}
	for _, s := range sns {
		m.subscriptions[s.ID] = &subscriptionRow{id: s.ID, subscriberID: s.SubscriberID, event: s.Event,
			customEndpoint: s.CustomEndpoint, active: s.Active}
	}
	return m, nil
}
