package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walhook/walhook/deliver"
)

// Sender makes one HTTP attempt for events sharing one Endpoint and returns
// one Attempt per event, in order (deliver.Client).
type Sender interface {
	Send(ctx context.Context, events []*deliver.Event) []deliver.Attempt
}

// RetryOptions tune RunRetries. The zero value is usable.
type RetryOptions struct {
	// Poll is how often an idle worker looks for due rows (default 1s);
	// Park, ReleaseHeld, Redeliver and re-enabling wake it at once.
	Poll time.Duration
	// Batch is the most rows claimed per round (default 500).
	Batch int
	// Concurrency bounds requests in flight (default 32; the HTTP
	// client's per-host limit still applies).
	Concurrency int
	// Lease is how long claimed rows stay locked to this worker (default
	// 45s): after a crash, its claimed rows wait at most this long before
	// another worker may take them. A round that outlives it stops
	// sending and leaves the rest to the next round, so two workers never
	// post one row at once.
	Lease time.Duration
	// Refresh is how often the per-row order set is reloaded from the
	// table and held rows are released when walhook is not paused
	// (default 10s).
	Refresh time.Duration
	// Gate, when set, admits each request (deliver.Dispatcher.Enter): an
	// endpoint in probe mode gets one request at a time, shared with the
	// dispatcher's own, and once a request to an endpoint failed in a
	// round, the round's other rows of that endpoint are put back
	// untried, due after its retry delay (so a hanging endpoint costs a
	// round one Timeout, not one per row).
	Gate Gate
}

// Gate admits requests to an endpoint URL (deliver.Dispatcher.Enter).
// Enter returns ctx's error when ctx ends first; leave must be called once,
// after the attempt was recorded, with its first event's outcome (nil when
// no request was made).
type Gate interface {
	Enter(ctx context.Context, ep *deliver.Endpoint) (leave func(*deliver.Attempt), err error)
}

var _ Gate = (*deliver.Dispatcher)(nil)

func (o RetryOptions) withDefaults() RetryOptions {
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.Lease <= 0 {
		o.Lease = 45 * time.Second
	}
	if o.Refresh <= 0 {
		o.Refresh = 10 * time.Second
	}
	return o
}

// maxRetryWait caps the delay a Retry-After header may ask for.
const maxRetryWait = 24 * time.Hour

// claimSQL locks due rows for this worker: pending, due, not leased to a
// live worker, of an active subscription of an active subscriber, and for
// ordered subscriptions only the head of its (subscription, order key) —
// no row of that key with a lower seq still waits — so per-row order holds
// across retries. SKIP LOCKED lets every walhook process claim at once.
// The status and lease conditions are on q itself so that a row another
// worker claimed meanwhile is re-checked under the lock and skipped.
//
// {{window}} is the fast path's candidate set: the $4 earliest due rows,
// read in index order, so that a round costs O(batch) however long the
// queue is. The full form (no window) judges every due row; claim uses it
// only when the window did not fill the batch, so rows blocked at the
// front of the queue can slow rounds down but never starve the others.
const claimSQL = `WITH {{window}} due AS (
    SELECT q.id FROM {{from}}
    JOIN {{schema}}.subscriptions sn ON sn.id = q.subscription_id
    JOIN {{schema}}.subscribers sb ON sb.id = sn.subscriber_id
    WHERE q.status = 'pending' AND q.next_attempt_at <= now()
      AND (q.locked_until IS NULL OR q.locked_until < now())
      AND sb.is_active AND sn.is_active
      AND (q.order_key = '' OR sb.unordered OR NOT EXISTS (
          SELECT 1 FROM {{schema}}.retry_queue e
          WHERE e.subscription_id = q.subscription_id AND e.order_key = q.order_key
            AND e.seq < q.seq AND e.status IN ('pending', 'held', 'disabled')))
    ORDER BY q.next_attempt_at
    LIMIT $1
    FOR UPDATE OF q SKIP LOCKED
)
UPDATE {{schema}}.retry_queue q
SET locked_by = $2, locked_until = now() + $3::interval, updated_at = now()
FROM due WHERE q.id = due.id
RETURNING q.id, q.event_id, q.subscription_id, q.event_name, q.table_name, q.order_key,
          q.payload, q.attempts, q.commit_time`

const claimWindow = `cand AS MATERIALIZED (
    SELECT id FROM {{schema}}.retry_queue
    WHERE status = 'pending' AND next_attempt_at <= now()
      AND (locked_until IS NULL OR locked_until < now())
    ORDER BY next_attempt_at
    LIMIT $4
),`

// claimQueries renders the fast and the full claim statements.
func claimQueries(render func(string) string) (fast, full string) {
	// The window's rows are fetched by primary key. The status test is
	// written lower(q.status) so that the planner cannot use the partial
	// due index here: with stale statistics (a queue that just filled) it
	// otherwise scanned that index once per candidate, or filtered every
	// due row against the whole window.
	fast = strings.NewReplacer("{{window}}", claimWindow,
		"{{from}}", "{{schema}}.retry_queue q",
		"WHERE q.status = 'pending'", "WHERE q.id = ANY (ARRAY(SELECT id FROM cand)) AND lower(q.status) = 'pending'").Replace(claimSQL)
	full = strings.NewReplacer("{{window}}", "", "{{from}}", "{{schema}}.retry_queue q").Replace(claimSQL)
	return render(fast), render(full)
}

// claimed is one row this worker holds.
type claimed struct {
	id         int64
	event      deliver.Event
	attempts   int
	commitTime *time.Time
	// Why a row got no attempt: its subscriber is suspended (put back to
	// wait as 'disabled'), or its endpoint failed earlier in the round
	// (put back, due at deferTo).
	suspended bool
	deferTo   time.Time
}

// RunRetries works the retry queue until ctx is cancelled, then finishes
// the requests in flight and returns nil. Every walhook process may run it:
// rows are claimed with FOR UPDATE SKIP LOCKED and leased, so two workers
// never post one row at once. Each claimed row is posted with its
// subscriber's current settings (URL, secrets, headers, timeout); the
// attempt is recorded (delivery log, counters, auto-disable); a success
// deletes the row; a failure schedules the next attempt (retry_delay
// doubled per attempt with jitter, or Retry-After when longer) or, after
// max_retries retries or a permanent failure, marks it 'failed' to wait for
// Redeliver.
func (db *DB) RunRetries(ctx context.Context, s Sender, o RetryOptions) error {
	o = o.withDefaults()
	db.housekeep(ctx)
	refresh := time.NewTicker(o.Refresh)
	defer refresh.Stop()
	poll := time.NewTimer(0)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-refresh.C:
			db.housekeep(ctx)
			continue
		case <-poll.C:
		case <-db.wakeCh:
		}
		n, err := db.retryRound(ctx, s, o)
		db.retryRounds.Add(1)
		switch {
		case err != nil && ctx.Err() == nil:
			db.log.Warn().Err(err).Msg("retry round")
			poll.Reset(o.Poll)
		case n > 0:
			// More may be due: a full batch left rows behind, and each
			// delivered head may have made the next row of its key due.
			poll.Reset(0)
		default:
			poll.Reset(o.Poll)
		}
	}
}

// housekeep deletes the rows of deleted subscriptions, reloads the
// per-row order set and releases held rows once walhook is no longer
// paused.
func (db *DB) housekeep(ctx context.Context) {
	db.sweepOrphans(ctx)
	if err := db.RefreshParked(ctx); err != nil && ctx.Err() == nil {
		db.log.Warn().Err(err).Msg("refresh parked rows")
	}
	n, err := db.releaseHeld(ctx, true)
	if err != nil && ctx.Err() == nil {
		db.log.Warn().Err(err).Msg("release held rows")
	}
	if n > 0 {
		db.log.Info().Int64("rows", n).Msg("held events released after resume")
	}
	if q, err := db.QueueDepth(ctx); err == nil {
		db.retry.queue.Store(&q)
	}
}

// wake nudges an idle RunRetries.
func (db *DB) wake() {
	select {
	case db.wakeCh <- struct{}{}:
	default:
	}
}

// retryRound claims up to o.Batch due rows, posts them and settles them. It
// returns how many rows it claimed.
func (db *DB) retryRound(ctx context.Context, s Sender, o RetryOptions) (int, error) {
	start := time.Now()
	rows, err := db.claim(ctx, o)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	// The round must end before the lease does; it outlives ctx so that
	// requests in flight at shutdown finish and are settled.
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), start.Add(o.Lease-o.Lease/10))
	defer cancel()
	claimed := time.Now()
	eps, err := db.currentEndpoints(rctx, rows)
	if err != nil {
		db.unlock(rctx, rows)
		return len(rows), err
	}
	results := db.post(ctx, rctx, s, o, rows, eps)
	posted := time.Now()
	err = db.settle(rctx, rows, results)
	db.log.Debug().Int("rows", len(rows)).Dur("claim", claimed.Sub(start)).Dur("post", posted.Sub(claimed)).
		Dur("settle", time.Since(posted)).Msg("retry round")
	return len(rows), err
}

// claim claims up to o.Batch due rows: through the fast window first, and
// through the full statement for the rest when the window fell short.
func (db *DB) claim(ctx context.Context, o RetryOptions) ([]*claimed, error) {
	window := o.Batch * 5
	rows, err := db.claimWith(ctx, db.q.claimFast, o.Batch, o.Lease, window)
	if err != nil || len(rows) == o.Batch {
		return rows, err
	}
	more, err := db.claimWith(ctx, db.q.claimFull, o.Batch-len(rows), o.Lease)
	if err != nil {
		db.unlock(ctx, rows)
		return nil, err
	}
	return append(rows, more...), nil
}

func (db *DB) claimWith(ctx context.Context, sql string, limit int, lease time.Duration, window ...int) ([]*claimed, error) {
	args := []any{limit, db.opts.WorkerID, lease}
	for _, w := range window {
		args = append(args, w)
	}
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("claim due retry rows: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*claimed, error) {
		c := &claimed{}
		var subID int64
		err := r.Scan(&c.id, &c.event.ID, &subID, &c.event.Name, &c.event.Table, &c.event.OrderKey,
			&c.event.Body, &c.attempts, &c.commitTime)
		c.event.Endpoint = &deliver.Endpoint{SubscriptionID: subID}
		if c.commitTime != nil {
			c.event.CommitTime = *c.commitTime
		}
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim due retry rows: %w", err)
	}
	return out, nil
}

// currentEndpoints reads the claimed rows' subscriptions as they are now
// and points each row's event at its subscription's endpoint.
func (db *DB) currentEndpoints(ctx context.Context, rows []*claimed) (map[int64]*deliver.Endpoint, error) {
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.event.Endpoint.SubscriptionID)
	}
	subs, err := db.loadSubscriptions(ctx, `WHERE sn.id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("read subscriptions of retry rows: %w", err)
	}
	eps := make(map[int64]*deliver.Endpoint, len(subs))
	for _, s := range subs {
		eps[s.ID] = s.Endpoint
	}
	for _, r := range rows {
		r.event.Endpoint = eps[r.event.Endpoint.SubscriptionID]
	}
	return eps, nil
}

// post sends the rows grouped by subscription in requests of at most the
// endpoint's batch size, o.Concurrency at once, each admitted by o.Gate
// when set. Requests run under rctx (the round's deadline); once stop is
// cancelled (shutdown) no new request starts, and those in flight finish.
// Right before each request (after the gate and the concurrency slot) it
// checks that the subscriber is not auto-disabled: the rows of one that
// is get no attempt and are put back as 'disabled'. Each attempt is
// recorded as soon as it is made, before the gate admits the next request
// to its endpoint, so that an auto-disable it triggers stops that request.
// A row whose request did not start gets no attempt (nil) and is
// unlocked.
func (db *DB) post(stop, rctx context.Context, s Sender, o RetryOptions, rows []*claimed, eps map[int64]*deliver.Endpoint) map[*claimed]*deliver.Attempt {
	p := &poster{db: db, s: s, gate: o.Gate, stop: stop, rctx: rctx, sem: make(chan struct{}, o.Concurrency),
		out: make(map[*claimed]*deliver.Attempt, len(rows)), failed: map[string]time.Duration{}}
	var wg sync.WaitGroup
	for _, chunk := range chunks(rows, eps) {
		wg.Go(func() { p.post(chunk) })
	}
	wg.Wait()
	return p.out
}

// poster is one round's posting state.
type poster struct {
	db         *DB
	s          Sender
	gate       Gate
	stop, rctx context.Context
	sem        chan struct{}

	mu     sync.Mutex
	out    map[*claimed]*deliver.Attempt
	failed map[string]time.Duration // endpoint URL → delay, once a request to it failed
}

// post makes one request for chunk (rows of one subscription), or none.
func (p *poster) post(chunk []*claimed) {
	ep := chunk[0].event.Endpoint
	leave := func(*deliver.Attempt) {}
	if p.gate != nil {
		l, err := p.gate.Enter(p.rctx, ep)
		if err != nil {
			return
		}
		leave = l
	}
	var made *deliver.Attempt
	defer func() { leave(made) }()
	select {
	case p.sem <- struct{}{}:
	case <-p.stop.Done():
		return
	case <-p.rctx.Done():
		return
	}
	defer func() { <-p.sem }()
	if p.stop.Err() != nil || p.rctx.Err() != nil || p.skip(chunk) {
		return
	}
	evs := make([]*deliver.Event, len(chunk))
	for i, c := range chunk {
		evs[i] = &c.event
	}
	atts := p.s.Send(p.rctx, evs)
	n := min(len(atts), len(chunk))
	for i := range n {
		atts[i].Number = chunk[i].attempts + 1
		p.db.Record(atts[i])
	}
	p.mu.Lock()
	for i := range n {
		p.out[chunk[i]] = &atts[i]
	}
	p.mu.Unlock()
	if n > 0 {
		made = &atts[0]
		p.noteFailure(ep, atts[0])
	}
}

// skip reports whether chunk must not be posted, and marks its rows: the
// subscriber is auto-disabled, or a request to the endpoint failed earlier
// in this round (with a Gate).
func (p *poster) skip(chunk []*claimed) bool {
	ep := chunk[0].event.Endpoint
	if p.db.health.isSuspended(ep.SubscriptionID) {
		for _, c := range chunk {
			c.suspended = true
		}
		return true
	}
	p.mu.Lock()
	delay, failed := p.failed[ep.URL]
	p.mu.Unlock()
	if !failed {
		return false
	}
	due := time.Now().Add(delay)
	for _, c := range chunk {
		c.deferTo = due
	}
	return true
}

// noteFailure remembers, with a Gate, that a request to ep failed: the
// round's other rows of its URL wait for its retry delay (or the
// Retry-After asked for, when longer).
func (p *poster) noteFailure(ep *deliver.Endpoint, a deliver.Attempt) {
	if p.gate == nil || a.Success() || a.Permanent {
		return
	}
	d := deliver.RetryInterval(ep, 1)
	if a.RetryAfter > d {
		d = min(a.RetryAfter, maxRetryWait)
	}
	p.mu.Lock()
	p.failed[ep.URL] = d
	p.mu.Unlock()
}

// chunks groups rows by subscription into requests of at most batch size.
// Rows whose subscription is gone (nil Endpoint) are left out.
func chunks(rows []*claimed, eps map[int64]*deliver.Endpoint) [][]*claimed {
	bySub := map[*deliver.Endpoint][]*claimed{}
	var order []*deliver.Endpoint
	for _, r := range rows {
		ep := r.event.Endpoint
		if ep == nil {
			continue
		}
		if _, ok := bySub[ep]; !ok {
			order = append(order, ep)
		}
		bySub[ep] = append(bySub[ep], r)
	}
	var out [][]*claimed
	for _, ep := range order {
		group, size := bySub[ep], max(ep.BatchSize, 1)
		for len(group) > 0 {
			n := min(size, len(group))
			out = append(out, group[:n:n])
			group = group[n:]
		}
	}
	return out
}

// settle updates each row after its attempt (recorded by post): deleted
// on success, rescheduled or failed otherwise; a row that got no attempt
// is put back as 'disabled' (suspended), due later (deferred) or unlocked.
func (db *DB) settle(ctx context.Context, rows []*claimed, results map[*claimed]*deliver.Attempt) error {
	b := &pgx.Batch{}
	var done []*claimed // rows that no longer block their key
	for _, r := range rows {
		a := results[r]
		if a == nil {
			db.retry.unattempted.Add(1)
			db.putBack(b, r)
			continue
		}
		if a.Success() {
			db.retry.delivered.Add(1)
			b.Queue(db.q.deleteRow, r.id, db.opts.WorkerID)
			done = append(done, r)
			continue
		}
		status, next := db.schedule(r, a)
		if status == "failed" {
			db.retry.failed.Add(1)
			done = append(done, r)
		} else {
			db.retry.rescheduled.Add(1)
		}
		b.Queue(db.q.reschedule, r.id, db.opts.WorkerID, status, next, cleanText(a.Error, 4096), statusOrNil(a.Status))
	}
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("settle retry rows: %w", err)
	}
	return db.forgetDelivered(ctx, done)
}

// putBack queues the update of a row that got no attempt.
func (db *DB) putBack(b *pgx.Batch, r *claimed) {
	switch {
	case r.suspended:
		b.Queue(db.render(disableRowSQL), r.id, db.opts.WorkerID, time.Now().Add(time.Second))
	case !r.deferTo.IsZero():
		b.Queue(db.render(deferRowSQL), r.id, db.opts.WorkerID, r.deferTo)
	default:
		b.Queue(db.q.unlock, []int64{r.id}, db.opts.WorkerID)
	}
}

// schedule decides what happens to a row after a failed attempt.
func (db *DB) schedule(r *claimed, a *deliver.Attempt) (string, time.Time) {
	ep := r.event.Endpoint
	made := r.attempts + 1
	if a.Permanent || made >= 1+ep.MaxRetries {
		return "failed", time.Now()
	}
	d := deliver.RetryInterval(ep, made)
	if a.RetryAfter > d {
		d = min(a.RetryAfter, maxRetryWait)
	}
	return "pending", time.Now().Add(d)
}

func statusOrNil(s int) any {
	if s == 0 {
		return nil
	}
	return int32(s)
}

// unlock releases rows without an attempt.
func (db *DB) unlock(ctx context.Context, rows []*claimed) {
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.id
	}
	if _, err := db.pool.Exec(ctx, db.q.unlock, ids, db.opts.WorkerID); err != nil {
		db.log.Warn().Err(err).Msg("unlock retry rows (their lease will expire)")
	}
}

// forgetDelivered drops from the per-row order set the keys of rows that
// no longer block, when no other row of the key does.
func (db *DB) forgetDelivered(ctx context.Context, done []*claimed) error {
	var subs []int64
	var keys []string
	for _, r := range done {
		if r.event.OrderKey != "" && r.event.Endpoint != nil {
			subs = append(subs, r.event.Endpoint.SubscriptionID)
			keys = append(keys, r.event.OrderKey)
		}
	}
	if len(subs) == 0 {
		return nil
	}
	v := db.parked.current()
	rows, err := db.pool.Query(ctx, db.q.stillParked, subs, keys)
	if err != nil {
		return fmt.Errorf("check remaining parked rows: %w", err)
	}
	still := map[parkKey]bool{}
	var k parkKey
	_, err = pgx.ForEachRow(rows, []any{&k.sub, &k.key}, func() error {
		still[k] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("check remaining parked rows: %w", err)
	}
	for i := range subs {
		if k := (parkKey{subs[i], keys[i]}); !still[k] {
			db.parked.removeUnlessNewer(k, v)
		}
	}
	return nil
}

const (
	unlockSQL = `UPDATE {{schema}}.retry_queue SET locked_by = NULL, locked_until = NULL
WHERE id = ANY($1) AND locked_by = $2`
	deleteRowSQL  = `DELETE FROM {{schema}}.retry_queue WHERE id = $1 AND locked_by = $2`
	rescheduleSQL = `UPDATE {{schema}}.retry_queue SET
    attempts = attempts + 1, status = CASE WHEN status = 'pending' THEN $3 ELSE status END,
    next_attempt_at = $4, last_error = $5, last_status = $6,
    locked_by = NULL, locked_until = NULL, updated_at = now()
WHERE id = $1 AND locked_by = $2`
	// disableRowSQL puts back a row of an auto-disabled subscriber as
	// 'disabled'. While the tables do not say so yet (the recorder writes
	// the disable at once, and moves the subscriber's pending rows to
	// 'disabled' then) it stays pending, due a little later ($3).
	disableRowSQL = `UPDATE {{schema}}.retry_queue q SET
    status = CASE WHEN q.status = 'pending' AND NOT sb.is_active THEN 'disabled' ELSE q.status END,
    next_attempt_at = CASE WHEN sb.is_active THEN greatest(q.next_attempt_at, $3) ELSE q.next_attempt_at END,
    locked_by = NULL, locked_until = NULL, updated_at = now()
FROM {{schema}}.subscribers sb
WHERE q.id = $1 AND q.locked_by = $2 AND sb.id = q.subscriber_id`
	deferRowSQL = `UPDATE {{schema}}.retry_queue SET next_attempt_at = $3,
    locked_by = NULL, locked_until = NULL, updated_at = now()
WHERE id = $1 AND locked_by = $2`
	stillParkedSQL = `SELECT DISTINCT q.subscription_id, q.order_key FROM {{schema}}.retry_queue q
JOIN unnest($1::bigint[], $2::text[]) AS k(sub, key) ON q.subscription_id = k.sub AND q.order_key = k.key
WHERE q.status IN ('pending', 'held', 'disabled')`
)

// RedeliverFilter selects failed rows for Redeliver; zero fields match all.
type RedeliverFilter struct {
	SubscriberID   int64
	SubscriptionID int64
	EventID        string
	// Since keeps rows created at or after it.
	Since time.Time
}

// Redeliver puts failed retry rows (exhausted or permanently failed) back
// to pending, due now, with a fresh attempt budget. It returns how many
// rows it released.
func (db *DB) Redeliver(ctx context.Context, f RedeliverFilter) (int64, error) {
	var since *time.Time
	if !f.Since.IsZero() {
		since = &f.Since
	}
	rows, err := db.pool.Query(ctx, db.render(`UPDATE {{schema}}.retry_queue SET
    status = 'pending', attempts = 0, next_attempt_at = now(), locked_by = NULL, locked_until = NULL, updated_at = now()
WHERE status = 'failed'
  AND ($1 = 0 OR subscriber_id = $1) AND ($2 = 0 OR subscription_id = $2)
  AND ($3 = '' OR event_id = $3) AND ($4::timestamptz IS NULL OR created_at >= $4)
RETURNING subscription_id, order_key`), f.SubscriberID, f.SubscriptionID, f.EventID, since)
	if err != nil {
		return 0, fmt.Errorf("redeliver failed events: %w", err)
	}
	var keys []parkKey
	var k parkKey
	_, err = pgx.ForEachRow(rows, []any{&k.sub, &k.key}, func() error {
		if k.key != "" {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("redeliver failed events: %w", err)
	}
	db.parked.add(keys)
	db.wake()
	return rows.CommandTag().RowsAffected(), nil
}
