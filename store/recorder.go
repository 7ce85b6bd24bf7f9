package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/walhook/walhook/deliver"
)

var _ deliver.Recorder = (*DB)(nil)

// recorder is the bounded hand-off between delivery goroutines and
// RunRecorder.
type recorder struct {
	ch chan deliver.Attempt
	// mu guards stopped. Record holds it for reading while it hands an
	// attempt over, so that once RunRecorder holds it for writing no
	// attempt is on its way into ch.
	mu      sync.RWMutex
	stopped bool

	written   atomic.Int64 // attempts written
	blocked   atomic.Int64 // Record calls that waited for room
	failures  atomic.Int64 // batch writes that failed (and were retried)
	lostAtEnd atomic.Int64 // attempts that could not be written at shutdown
	rejected  atomic.Int64 // attempts whose row the server refused
}

func newRecorder(size int) *recorder {
	return &recorder{ch: make(chan deliver.Attempt, size)}
}

// Record queues an attempt for the delivery log and the counters. An
// attempt that reaches the subscriber's auto_disable_after_failures streak,
// or answered 410 Gone, disables it at once in memory (HasParked then parks
// its events untried) and the disable is written right away. It
// returns at once while the buffer (Options.RecorderBuffer) has room and
// blocks when it is full, pushing back on delivery rather than losing
// anything: the buffer fills only when the state database is slow or down,
// and then the retry queue cannot take events either. After RunRecorder has
// returned, Record writes the attempt itself.
func (db *DB) Record(a deliver.Attempt) {
	if a.Event != nil && a.Event.Endpoint != nil {
		db.health.observe(&a)
	}
	r := db.rec
	r.mu.RLock()
	if r.stopped {
		r.mu.RUnlock()
		db.writeAfterStop(a)
		return
	}
	select {
	case r.ch <- a:
	default:
		r.blocked.Add(1)
		r.ch <- a
	}
	r.mu.RUnlock()
}

// RunRecorder writes queued attempts in batches: every
// Options.FlushInterval or Options.FlushRows attempts, one transaction per
// batch (delivery-log rows by COPY, counters, auto-disable). A failed write
// is retried with backoff until it succeeds, so nothing queued is dropped
// while the database recovers. When ctx is cancelled it stops taking
// attempts, writes everything queued and returns nil; from then on Record
// writes each attempt itself. First it makes the delivery log UNLOGGED or
// logged as Options.UnloggedDeliveryLog says. Run it once per DB.
func (db *DB) RunRecorder(ctx context.Context) error {
	db.applyLogPersistence(ctx, 5*time.Second)
	r := db.rec
	tick := time.NewTicker(db.opts.FlushInterval)
	defer tick.Stop()
	batch := make([]deliver.Attempt, 0, db.opts.FlushRows)
	for {
		select {
		case a := <-r.ch:
			batch = append(batch, a)
			if len(batch) >= db.opts.FlushRows {
				db.flushRetrying(ctx, batch)
				clear(batch) // drop references to written events' bodies
				batch = batch[:0]
			}
		case <-tick.C:
			if len(batch) > 0 {
				db.flushRetrying(ctx, batch)
				clear(batch)
				batch = batch[:0]
			}
		case <-db.health.signal:
			// An auto-disable is waiting: write it, with what is queued.
			batch = db.drainInto(batch)
			db.flushRetrying(ctx, batch)
			clear(batch)
			batch = batch[:0]
		case <-ctx.Done():
			db.shutdownRecorder(batch)
			return nil
		}
	}
}

// drainInto appends the attempts queued now, without waiting.
func (db *DB) drainInto(batch []deliver.Attempt) []deliver.Attempt {
	for {
		select {
		case a := <-db.rec.ch:
			batch = append(batch, a)
		default:
			return batch
		}
	}
}

// FlushRecorder writes what is queued now, for one-shot commands that
// record attempts without running RunRecorder. It may run beside
// RunRecorder.
func (db *DB) FlushRecorder(ctx context.Context) error {
	var batch []deliver.Attempt
	for {
		select {
		case a := <-db.rec.ch:
			batch = append(batch, a)
			continue
		default:
		}
		break
	}
	for len(batch) > 0 {
		n := min(len(batch), db.opts.FlushRows)
		db.flushRetrying(ctx, batch[:n])
		batch = batch[n:]
	}
	return ctx.Err()
}

// shutdownRecorder stops Record from queueing, then writes what is left.
func (db *DB) shutdownRecorder(batch []deliver.Attempt) {
	r := db.rec
	locked := make(chan struct{})
	go func() {
		r.mu.Lock()
		r.stopped = true
		r.mu.Unlock()
		close(locked)
	}()
	// Keep draining while blocked Record calls finish handing over.
	for waiting := true; waiting; {
		select {
		case a := <-r.ch:
			batch = append(batch, a)
		case <-locked:
			waiting = false
		}
	}
	for {
		select {
		case a := <-r.ch:
			batch = append(batch, a)
			continue
		default:
		}
		break
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(batch) > 0 {
		n := min(len(batch), db.opts.FlushRows)
		db.flushRetrying(ctx, batch[:n])
		batch = batch[n:]
	}
}

func (db *DB) writeAfterStop(a deliver.Attempt) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db.flushRetrying(ctx, []deliver.Attempt{a})
}

// flushRetrying writes batch. A transient failure (connection, server
// shutting down, serialization) is retried with backoff until it succeeds
// or ctx ends; a batch the server rejects is written one attempt at a time
// so that only the offending attempts are dropped, each logged and counted.
func (db *DB) flushRetrying(ctx context.Context, batch []deliver.Attempt) {
	delay := 100 * time.Millisecond
	for {
		disabled, err := db.writeBatch(ctx, batch)
		if err == nil {
			db.written(len(batch), disabled)
			return
		}
		db.rec.failures.Add(1)
		if !transient(err) {
			db.writeOneByOne(ctx, batch, err)
			return
		}
		if ctx.Err() != nil {
			db.lastTry(ctx, batch)
			return
		}
		db.log.Warn().Err(err).Int("attempts", len(batch)).Dur("retry_in", delay).Msg("write delivery log batch")
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// writeBatch writes batch under a context that cancelling ctx does not
// interrupt: a write cut off mid-commit might have committed, and writing
// it again would count its attempts twice.
func (db *DB) writeBatch(ctx context.Context, batch []deliver.Attempt) (disabledSet, error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return db.writeAttempts(wctx, batch)
}

// lastTry makes one last attempt without the cancelled ctx.
func (db *DB) lastTry(ctx context.Context, batch []deliver.Attempt) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	disabled, err := db.writeAttempts(wctx, batch)
	if err == nil {
		db.written(len(batch), disabled)
		return
	}
	db.rec.lostAtEnd.Add(int64(len(batch)))
	db.log.Error().Err(err).Int("attempts", len(batch)).Msg("delivery log batch not written at shutdown")
}

func (db *DB) writeOneByOne(ctx context.Context, batch []deliver.Attempt, batchErr error) {
	if len(batch) == 1 {
		db.rec.rejected.Add(1)
		a := &batch[0]
		ev := zeroEventID(a)
		db.log.Error().Err(batchErr).Str("event_id", ev).Msg("delivery log row rejected by the server; attempt dropped from the log")
		return
	}
	for i := range batch {
		db.flushRetrying(ctx, batch[i:i+1])
	}
}

func zeroEventID(a *deliver.Attempt) string {
	if a.Event == nil {
		return ""
	}
	return a.Event.ID
}

// transient reports whether err may go away by itself: no server verdict
// (connection trouble), or a server error of class 08 (connection), 40
// (rollback: serialization, deadlock), 53 (resources), 57 (operator
// intervention) or 58 (system).
func transient(err error) bool {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return true
	}
	switch pg.Code[:2] {
	case "08", "40", "53", "57", "58":
		return true
	}
	return false
}

// writeAttempts writes one batch in one transaction: log rows, the
// auto-disables decided in memory, counters, and the auto-disables the
// counters call for. It returns who it disabled.
func (db *DB) writeAttempts(ctx context.Context, batch []deliver.Attempt) (disabledSet, error) {
	subs, subr := aggregate(batch)
	pending := db.health.takePending()
	var out disabledSet
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		out = disabledSet{}
		if !db.opts.DisableDeliveryLog && len(batch) > 0 {
			if err := db.copyLog(ctx, tx, batch); err != nil {
				return err
			}
		}
		ids, err := db.applyDisables(ctx, tx, pending)
		if err != nil {
			return err
		}
		out.subscribers = ids
		if len(subs) > 0 {
			if err := db.updateSubscriptionStats(ctx, tx, subs); err != nil {
				return err
			}
			more, err := db.updateSubscriberStats(ctx, tx, subr)
			if err != nil {
				return err
			}
			out.subscribers = append(out.subscribers, more...)
		}
		if len(out.subscribers) == 0 {
			return nil
		}
		out.subscriptions, err = db.afterAutoDisable(ctx, tx, out.subscribers)
		return err
	})
	if err == nil {
		db.health.written(pending)
	}
	return out, err
}

// disabledSet is who a batch auto-disabled.
type disabledSet struct {
	subscribers, subscriptions []int64
}

// applyDisables writes the auto-disables decided in memory, with their
// reasons, and returns the subscribers it switched off.
func (db *DB) applyDisables(ctx context.Context, tx pgx.Tx, pending map[int64]string) ([]int64, error) {
	if len(pending) == 0 {
		return nil, nil
	}
	ids := make([]int64, 0, len(pending))
	reasons := make([]string, 0, len(pending))
	for id, r := range pending {
		ids = append(ids, id)
		reasons = append(reasons, r)
	}
	rows, err := tx.Query(ctx, db.render(`UPDATE {{schema}}.subscribers sb SET
    is_active = false, auto_disabled_at = now(), disabled_reason = d.reason, updated_at = now()
FROM unnest($1::bigint[], $2::text[]) AS d(id, reason)
WHERE sb.id = d.id AND sb.is_active
RETURNING sb.id`), ids, reasons)
	if err != nil {
		return nil, fmt.Errorf("auto-disable subscribers: %w", err)
	}
	out, err := collectInt64(rows)
	if err != nil {
		return nil, fmt.Errorf("auto-disable subscribers: %w", err)
	}
	return out, nil
}

// durationMS rounds d up to whole milliseconds, so that an attempt that
// took any time at all never reads as 0 ms.
func durationMS(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	return int32((d + time.Millisecond - 1) / time.Millisecond)
}

// cleanText makes s storable as PostgreSQL text: valid UTF-8, no NUL, at
// most limit bytes (0: no limit), cut on a rune boundary.
func cleanText(s string, limit int) string {
	if limit > 0 && len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return s
}

// tally is what one batch did to one subscription or subscriber.
type tally struct {
	total, ok, failed int64
	// trailing counts failures after the batch's last success; hadSuccess
	// says whether there was one (then trailing replaces the streak,
	// otherwise it extends it).
	trailing   int32
	hadSuccess bool
	// gone is true when a trailing failure was HTTP 410.
	gone             bool
	lastOK, lastFail *time.Time
	lastStatus       *int32
}

func (t *tally) add(a *deliver.Attempt) {
	t.total++
	at := a.At
	if at.IsZero() {
		at = time.Now()
	}
	if a.Number == 0 {
		// Never sent (the router could not build the event): a failed
		// delivery, but not the endpoint's failure, so no streak.
		t.failed++
		if t.lastFail == nil || at.After(*t.lastFail) {
			t.lastFail = &at
		}
		return
	}
	if a.Success() {
		t.ok++
		t.trailing, t.hadSuccess, t.gone = 0, true, false
		if t.lastOK == nil || at.After(*t.lastOK) {
			t.lastOK = &at
		}
	} else {
		t.failed++
		t.trailing++
		t.gone = t.gone || a.Status == 410
		if t.lastFail == nil || at.After(*t.lastFail) {
			t.lastFail = &at
		}
	}
	if a.Status != 0 {
		s := int32(a.Status)
		t.lastStatus = &s
	}
}

// aggregate tallies a batch per subscription and per subscriber, in the
// batch's order.
func aggregate(batch []deliver.Attempt) (subs, subr map[int64]*tally) {
	subs, subr = map[int64]*tally{}, map[int64]*tally{}
	for i := range batch {
		a := &batch[i]
		if a.Event == nil || a.Event.Endpoint == nil || a.Event.Endpoint.SubscriptionID == 0 {
			continue
		}
		ep := a.Event.Endpoint
		get(subs, ep.SubscriptionID).add(a)
		get(subr, ep.SubscriberID).add(a)
	}
	return subs, subr
}

func get(m map[int64]*tally, id int64) *tally {
	t := m[id]
	if t == nil {
		t = &tally{}
		m[id] = t
	}
	return t
}

// tallyArrays turns tallies into parallel arrays for unnest.
type tallyArrays struct {
	ids               []int64
	total, ok, failed []int64
	trailing          []int32
	lastOK, lastFail  []*time.Time
	lastStatus        []*int32
	gone              []bool
}

// toArrays orders by id so that concurrent writers lock rows in the same
// order and cannot deadlock.
func toArrays(m map[int64]*tally) tallyArrays {
	var a tallyArrays
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		t := m[id]
		a.ids = append(a.ids, id)
		a.total = append(a.total, t.total)
		a.ok = append(a.ok, t.ok)
		a.failed = append(a.failed, t.failed)
		a.trailing = append(a.trailing, t.trailing)
		a.lastOK = append(a.lastOK, t.lastOK)
		a.lastFail = append(a.lastFail, t.lastFail)
		a.lastStatus = append(a.lastStatus, t.lastStatus)
		a.gone = append(a.gone, t.gone)
	}
	return a
}

// A success in the batch (last_success_at set in EXCLUDED) replaces the
// streak with the failures after it; otherwise the failures extend it.
const statsSetSQL = `total_deliveries = st.total_deliveries + EXCLUDED.total_deliveries,
    successful_deliveries = st.successful_deliveries + EXCLUDED.successful_deliveries,
    failed_deliveries = st.failed_deliveries + EXCLUDED.failed_deliveries,
    consecutive_failures = CASE WHEN EXCLUDED.last_success_at IS NOT NULL
        THEN EXCLUDED.consecutive_failures
        ELSE st.consecutive_failures + EXCLUDED.consecutive_failures END,
    last_success_at = greatest(st.last_success_at, EXCLUDED.last_success_at),
    last_failure_at = greatest(st.last_failure_at, EXCLUDED.last_failure_at)`

const subscriptionStatsSQL = `INSERT INTO {{schema}}.subscription_stats AS st (subscription_id, total_deliveries,
    successful_deliveries, failed_deliveries, consecutive_failures, last_success_at, last_failure_at, last_response_status)
SELECT d.id, d.total, d.ok, d.failed, d.streak, d.last_ok, d.last_fail, d.last_status
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::int[], $6::timestamptz[], $7::timestamptz[], $8::int[])
    AS d(id, total, ok, failed, streak, last_ok, last_fail, last_status)
JOIN {{schema}}.subscriptions s ON s.id = d.id
ON CONFLICT (subscription_id) DO UPDATE SET ` + statsSetSQL + `,
    last_response_status = coalesce(EXCLUDED.last_response_status, st.last_response_status)`

func (db *DB) updateSubscriptionStats(ctx context.Context, tx pgx.Tx, m map[int64]*tally) error {
	a := toArrays(m)
	_, err := tx.Exec(ctx, db.q.subscriptionStats, a.ids, a.total, a.ok, a.failed, a.trailing, a.lastOK, a.lastFail, a.lastStatus)
	if err != nil {
		return fmt.Errorf("update subscription counters: %w", err)
	}
	return nil
}

// subscriberStatsSQL updates the counters and auto-disables, in one
// statement, every subscriber whose streak reached its
// auto_disable_after_failures, or whose endpoint answered 410 Gone after
// its last success. It returns the subscribers it disabled.
const subscriberStatsSQL = `WITH d AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::int[],
                         $6::timestamptz[], $7::timestamptz[], $8::bool[])
        AS d(id, total, ok, failed, streak, last_ok, last_fail, gone)
), up AS (
    INSERT INTO {{schema}}.subscriber_stats AS st (subscriber_id, total_deliveries, successful_deliveries,
        failed_deliveries, consecutive_failures, last_success_at, last_failure_at)
    SELECT d.id, d.total, d.ok, d.failed, d.streak, d.last_ok, d.last_fail
    FROM d JOIN {{schema}}.subscribers sb ON sb.id = d.id
    ON CONFLICT (subscriber_id) DO UPDATE SET ` + statsSetSQL + `
    RETURNING st.subscriber_id, st.consecutive_failures
)
UPDATE {{schema}}.subscribers sb SET
    is_active = false, auto_disabled_at = now(), updated_at = now(),
    disabled_reason = CASE WHEN d.gone THEN 'endpoint answered 410 Gone'
        ELSE up.consecutive_failures || ' consecutive failures' END
FROM up JOIN d ON d.id = up.subscriber_id
WHERE sb.id = up.subscriber_id AND sb.is_active
  AND (d.gone OR (sb.auto_disable_after_failures > 0 AND up.consecutive_failures >= sb.auto_disable_after_failures))
RETURNING sb.id`

func (db *DB) updateSubscriberStats(ctx context.Context, tx pgx.Tx, m map[int64]*tally) ([]int64, error) {
	a := toArrays(m)
	rows, err := tx.Query(ctx, db.q.subscriberStats, a.ids, a.total, a.ok, a.failed, a.trailing, a.lastOK, a.lastFail, a.gone)
	if err != nil {
		return nil, fmt.Errorf("update subscriber counters: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("update subscriber counters: %w", err)
	}
	return ids, nil
}

// afterAutoDisable moves the disabled subscribers' pending retry rows to
// 'disabled', where they wait for SetSubscriberActive, and returns the
// subscribers' subscriptions.
func (db *DB) afterAutoDisable(ctx context.Context, tx pgx.Tx, ids []int64) ([]int64, error) {
	_, err := tx.Exec(ctx, db.render(`UPDATE {{schema}}.retry_queue SET status = 'disabled', updated_at = now()
WHERE subscriber_id = ANY($1) AND status = 'pending'`), ids)
	if err != nil {
		return nil, fmt.Errorf("hold retry rows of auto-disabled subscribers: %w", err)
	}
	rows, err := tx.Query(ctx, db.render(`SELECT id FROM {{schema}}.subscriptions WHERE subscriber_id = ANY($1)`), ids)
	if err != nil {
		return nil, fmt.Errorf("read subscriptions of auto-disabled subscribers: %w", err)
	}
	subs, err := collectInt64(rows)
	if err != nil {
		return nil, fmt.Errorf("read subscriptions of auto-disabled subscribers: %w", err)
	}
	for _, id := range ids {
		db.log.Warn().Int64("subscriber_id", id).Msg("subscriber auto-disabled")
	}
	return subs, nil
}

// written accounts for a batch written and applies its auto-disables to
// the in-memory state at once (the WAL brings them to the cache later).
func (db *DB) written(n int, d disabledSet) {
	db.rec.written.Add(int64(n))
	if len(d.subscribers) == 0 {
		return
	}
	db.health.suspend(d.subscribers, d.subscriptions)
	db.Invalidate("")
}

// RecorderStats are the recorder's counters since Open.
type RecorderStats struct {
	Queued   int   // attempts waiting to be written now
	Written  int64 // attempts written
	Blocked  int64 // Record calls that had to wait for room
	Failures int64 // batch writes that failed and were retried
	Lost     int64 // attempts not written at shutdown (database unreachable)
	Rejected int64 // attempts whose row the server refused (logged)
}

// RecorderStats returns the recorder's counters.
func (db *DB) RecorderStats() RecorderStats {
	r := db.rec
	return RecorderStats{
		Queued: len(r.ch), Written: r.written.Load(), Blocked: r.blocked.Load(),
		Failures: r.failures.Load(), Lost: r.lostAtEnd.Load(), Rejected: r.rejected.Load(),
	}
}
