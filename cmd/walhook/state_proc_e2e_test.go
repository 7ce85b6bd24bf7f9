package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/internal/pgtest"
)

// stateProcConfig is the configuration of the out-of-process state tests.
const stateProcConfig = `
source: {dsn: "${DSN}", slot: ${SLOT}}
admin: {listen: "127.0.0.1:0"}
delivery: {allow_networks: [127.0.0.0/8]}
subscribers:
  - name: parked
    table: public.items
    target_url: ${URL}/parked
    secret: ${SECRET}
    retry_delay: 100ms
    max_retries: 1000
    auto_disable_after_failures: 0
    subscriptions: [{event: created}]
`

// TestStateKill9WhileParked: the receiver is down, so every event lands
// in the retry queue; walhook is killed with SIGKILL, more rows are
// written while it is dead, the receiver comes back and walhook restarts:
// every row arrives, and the queue empties.
func TestStateKill9WhileParked(t *testing.T) {
	if testing.Short() {
		t.Skip("out-of-process test skipped in -short mode")
	}
	t.Parallel()
	const parked, whileDead = 100, 50
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, itemsTable)
	r := newHookRecv(t)
	var down atomic.Bool
	down.Store(true)
	r.setStatus(func(*hookReq) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	cfgPath, logf := writeProcConfig(t, stateProcConfig, dsn, r.srv.URL)
	bin := walhookBinary(t)
	p := startWalhookProc(t, bin, cfgPath, logf)
	waitSlot(t, dsn, testSlot(dsn))
	insertItems(t, dsn, 1, parked, 10)
	waitSettled(t, dsn, testSlot(dsn))
	waitUntil(t, 30*time.Second, func() string {
		if n := queryInt(t, dsn, `SELECT count(*) FROM walhook.retry_queue`); n != parked {
			return fmt.Sprintf("retry queue holds %d rows, want %d", n, parked)
		}
		return ""
	})
	p.stop(syscall.SIGKILL)
	insertItems(t, dsn, parked+1, parked+whileDead, 10)
	down.Store(false)
	startWalhookProc(t, bin, cfgPath, logf)
	func() {
		defer func() {
			if t.Failed() {
				t.Logf("walhook log tail:\n%s", logTail(logf))
				for _, v := range queryRows(t, dsn, `SELECT status, attempts, locked_by, locked_until, next_attempt_at FROM walhook.retry_queue LIMIT 5`) {
					t.Logf("retry row: %v", v)
				}
			}
		}()
		r.waitRows(nil, rowRange(1, parked+whileDead), 2*time.Minute)
	}()
	r.check()
	waitUntil(t, 30*time.Second, func() string {
		if n := queryInt(t, dsn, `SELECT count(*) FROM walhook.retry_queue`); n != 0 {
			return fmt.Sprintf("retry queue still holds %d rows", n)
		}
		return ""
	})
}

// TestStateTwoProcesses: two walhook processes with one configuration
// and one state schema. Only one streams (one walsender; the other waits
// for the leader lock), both work the retry queue, and no parked event is
// ever posted twice at once (the receiver tracks requests in flight per
// event id; every first attempt fails so that every event goes through
// the queue). When the leader is killed with SIGKILL the other takes over
// and events keep flowing.
func TestStateTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("out-of-process test skipped in -short mode")
	}
	t.Parallel()
	const first, second = 300, 100
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, itemsTable)
	r := newHookRecv(t)
	r.latency = 20 * time.Millisecond
	r.setStatus(func(q *hookReq) int {
		if q.Attempt == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	cfgPath, logf := writeProcConfig(t, stateProcConfig, dsn, r.srv.URL)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("walhook log tail:\n%s", logTail(logf))
		}
	})
	bin := walhookBinary(t)
	leader := startWalhookProc(t, bin, cfgPath, logf)
	waitSlot(t, dsn, testSlot(dsn)) // the first process leads: it made the slot
	startWalhookProc(t, bin, cfgPath, logf)
	waitUntil(t, 60*time.Second, func() string {
		var held, waiting int64
		pgtestQuery(t, dsn, `SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted)
FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, &held, &waiting)
		if held == 1 && waiting == 1 {
			return ""
		}
		return fmt.Sprintf("leader lock: %d held, %d waiting; want 1 and 1", held, waiting)
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	senders := make(chan int64, 1)
	go watchWalsenders(ctx, dsn, senders)

	insertItems(t, dsn, 1, first, 10)
	r.waitRows(nil, rowRange(1, first), 2*time.Minute)
	waitUntil(t, 30*time.Second, func() string {
		if n := queryInt(t, dsn, `SELECT count(*) FROM walhook.retry_queue`); n != 0 {
			return fmt.Sprintf("retry queue still holds %d rows", n)
		}
		return ""
	})

	leader.stop(syscall.SIGKILL)
	insertItems(t, dsn, first+1, first+second, 10)
	r.waitRows(nil, rowRange(1, first+second), 2*time.Minute)
	r.check()
	cancel()
	if most := <-senders; most != 1 {
		t.Errorf("up to %d walsenders streamed at once for this database, want 1", most)
	}
	var failedFirst int
	for _, q := range r.requests() {
		if q.Attempt == 1 {
			failedFirst++
		}
	}
	if failedFirst < first+second {
		t.Errorf("%d first attempts for %d rows", failedFirst, first+second)
	}
}

// watchWalsenders polls how many walsenders serve this database until ctx
// ends, then sends the largest number seen.
func watchWalsenders(ctx context.Context, dsn string, out chan<- int64) {
	var most int64
	defer func() { out <- most }()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for ctx.Err() == nil {
		var n int64
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender' AND datname = current_database()`).Scan(&n)
		if err == nil {
			most = max(most, n)
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestStateKill9MidRetry: walhook is killed with SIGKILL while its retry
// worker is posting a parked event (the receiver holds the request open),
// then restarted with the receiver healthy. The event must arrive soon
// after the restart: the dead worker's claim on the row must not keep it
// from the new one for long (a SIGKILLed process never unlocks the rows it
// claimed; they wait out RetryOptions.Lease, 5 minutes by default).
func TestStateKill9MidRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("out-of-process test skipped in -short mode")
	}
	t.Parallel()
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, itemsTable)
	r := newHookRecv(t)
	inRetry := make(chan struct{})
	release := make(chan struct{})
	var healthy atomic.Bool
	var once atomic.Bool
	r.setStatus(func(q *hookReq) int {
		switch {
		case healthy.Load():
			return http.StatusNoContent
		case q.Attempt == 1:
			return http.StatusServiceUnavailable
		}
		return http.StatusServiceUnavailable // retries are answered by the wrapper below
	})
	// Wrap the handler: a retry (attempt 2+) while unhealthy blocks until
	// released, so that walhook is killed with the request in flight.
	inner := r.srv.Config.Handler
	r.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !healthy.Load() && req.Header.Get("webhook-id") != "" && r.triesOf(req.Header.Get("webhook-id")) >= 1 {
			if once.CompareAndSwap(false, true) {
				close(inRetry)
			}
			<-release
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		inner.ServeHTTP(w, req)
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	cfgPath, logf := writeProcConfig(t, stateProcConfig, dsn, r.srv.URL)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("walhook log tail:\n%s", logTail(logf))
		}
	})
	bin := walhookBinary(t)
	p := startWalhookProc(t, bin, cfgPath, logf)
	waitSlot(t, dsn, testSlot(dsn))
	insertItems(t, dsn, 1, 1, 1)
	select {
	case <-inRetry:
	case <-time.After(60 * time.Second):
		t.Fatal("the retry worker did not retry the parked event within 60s")
	}
	p.stop(syscall.SIGKILL)
	healthy.Store(true)
	close(release)
	restarted := time.Now()
	startWalhookProc(t, bin, cfgPath, logf)
	t.Cleanup(func() {
		if t.Failed() {
			for _, v := range queryRows(t, dsn, `SELECT status, attempts, locked_by, locked_until - now(), next_attempt_at - now() FROM walhook.retry_queue`) {
				t.Logf("retry row (status, attempts, locked_by, lease left, due in): %v", v)
			}
		}
	})
	r.waitRows(nil, []int64{1}, 60*time.Second)
	t.Logf("delivered %v after the restart", time.Since(restarted).Round(time.Millisecond))
}

// triesOf returns how many requests for event id reached the receiver's
// answer function.
func (r *hookRecv) triesOf(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tries[id]
}
