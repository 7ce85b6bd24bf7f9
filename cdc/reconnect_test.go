package cdc

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgtest"
)

// terminateWalsender kills the walsender reading slot, once it runs.
func terminateWalsender(t testing.TB, dsn, slot string) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, dsn)
	deadline := time.After(30 * time.Second)
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		var killed bool
		err := conn.QueryRow(ctx, `SELECT coalesce(bool_or(pg_terminate_backend(active_pid)), false) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL`, slot).Scan(&killed)
		if err != nil {
			t.Error(err)
			return
		}
		if killed {
			return
		}
		select {
		case <-poll.C:
		case <-deadline:
			t.Error("walsender never became active")
			return
		}
	}
}

func TestReconnectResumesWithoutLossOrDuplicates(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	slot := slotFor(t, dsn)
	start := setup(t, dsn, []string{"public.t"}, `CREATE TABLE t (id int PRIMARY KEY, big bool, pad text)`)
	rec := newRecorder()
	var killedMid atomic.Bool
	rec.onChange = func(c *Change) {
		// Kill the connection in the middle of the big transaction, once.
		if c.Index == 100 && c.New[1] == true && killedMid.CompareAndSwap(false, true) {
			terminateWalsender(t, dsn, slot)
		}
	}
	run(t, StreamOptions{DSN: dsn, Start: start, StatusInterval: 50 * time.Millisecond}, rec)

	conn := connect(t, dsn)
	const small = 30
	for i := range small {
		mustExec(t, conn, fmt.Sprintf(`INSERT INTO t VALUES (%d, false)`, i))
		if i == small/2 {
			rec.waitTxns(t, i+1)
			terminateWalsender(t, dsn, slot) // between transactions
		}
	}
	// 20 MB: more than socket buffers hold, so the kill lands mid-transaction.
	mustExec(t, conn, `INSERT INTO t SELECT g, true, repeat(md5(g::text), 32) FROM generate_series(1000, 20999) g`)
	mustExec(t, conn, `INSERT INTO t VALUES (-1, false)`)
	txns := rec.waitTxns(t, small+2)
	if len(txns) != small+2 {
		t.Fatalf("%d transactions, want %d", len(txns), small+2)
	}
	var prev LSN
	for i, x := range txns {
		if x.Commit.CommitLSN <= prev {
			t.Fatalf("transaction %d: commit %s not after %s (duplicate or out of order)", i, x.Commit.CommitLSN, prev)
		}
		prev = x.Commit.CommitLSN
		want := 1
		if i == small {
			want = 20000
		}
		if len(x.Changes) != want {
			t.Fatalf("transaction %d has %d changes, want %d", i, len(x.Changes), want)
		}
		for j, c := range x.Changes {
			if c.Index != j {
				t.Fatalf("transaction %d change %d has index %d", i, j, c.Index)
			}
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !killedMid.Load() || rec.rollbacks != 1 {
		t.Fatalf("killed mid-transaction %v, rollbacks %d, want 1", killedMid.Load(), rec.rollbacks)
	}
}

func TestLargeTransactionStreamsInBoundedMemory(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	start := setup(t, dsn, []string{"public.t"}, `CREATE TABLE t (id int PRIMARY KEY, pad text)`)
	const rows = 100_000
	rec := newRecorder()
	rec.keep = false
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	var sawBeforeCommit atomic.Bool
	rec.onChange = func(c *Change) {
		if c.Index == 0 {
			rec.mu.Lock()
			sawBeforeCommit.Store(rec.open != nil && rec.open.Commit == nil && len(rec.txns) == 0)
			rec.mu.Unlock()
		}
		if c.Index%10_000 == 0 {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
		}
	}
	run(t, StreamOptions{DSN: dsn, Start: start}, rec)
	// About 100 MB of row data in one transaction.
	pgtest.Exec(t, dsn, fmt.Sprintf(`INSERT INTO t SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, %d) g`, rows))
	rec.waitTxns(t, 1)
	rec.mu.Lock()
	counted := rec.counted
	rec.mu.Unlock()
	if counted != rows {
		t.Fatalf("%d changes, want %d", counted, rows)
	}
	if !sawBeforeCommit.Load() {
		t.Fatal("first change was not handed over before the commit")
	}
	growth := int64(peak.Load()) - int64(base.HeapAlloc)
	t.Logf("heap growth while streaming %d rows: %d MB", rows, growth>>20)
	if growth > 64<<20 {
		t.Fatalf("heap grew by %d MB while streaming", growth>>20)
	}
}
