package cdc

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/walhook/walhook/internal/pgtest"
)

func TestStreamDecodesTransactions(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	start := setup(t, dsn, []string{"public.a", "public.b"},
		`CREATE TABLE a (id int PRIMARY KEY, name text)`,
		`CREATE TABLE b (id bigint PRIMARY KEY, n numeric)`,
		`CREATE TABLE c (id int PRIMARY KEY)`) // not published
	rec := newRecorder()
	reg := prometheus.NewRegistry()
	run(t, StreamOptions{DSN: dsn, Start: start, Registerer: reg}, rec)
	conn := connect(t, dsn)
	ctx := context.Background()
	sizes := []int{1, 3, 50}
	for _, n := range sizes {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			mustExec(t, tx, fmt.Sprintf(`INSERT INTO a VALUES (%d, 'n%d')`, n*1000+i, i))
			mustExec(t, tx, fmt.Sprintf(`INSERT INTO c VALUES (%d)`, n*1000+i))
		}
		mustExec(t, tx, fmt.Sprintf(`INSERT INTO b VALUES (%d, 1.5)`, n))
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(t, conn, `BEGIN; INSERT INTO a VALUES (-1, 'gone'); ROLLBACK`)
	mustExec(t, conn, `UPDATE a SET name = 'x' WHERE id = 1000`)
	mustExec(t, conn, `DELETE FROM b WHERE id = 3`)
	txns := rec.waitTxns(t, len(sizes)+2)
	if len(txns) != len(sizes)+2 {
		t.Fatalf("got %d transactions, want %d", len(txns), len(sizes)+2)
	}
	var prevEnd LSN
	for i, n := range sizes {
		x := txns[i]
		if len(x.Changes) != n+1 {
			t.Fatalf("txn %d: %d changes, want %d", i, len(x.Changes), n+1)
		}
		if x.Begin.CommitLSN != x.Commit.CommitLSN || x.Commit.EndLSN <= x.Commit.CommitLSN || x.Commit.CommitLSN <= prevEnd {
			t.Fatalf("txn %d: begin %s commit %s end %s prev end %s", i, x.Begin.CommitLSN, x.Commit.CommitLSN, x.Commit.EndLSN, prevEnd)
		}
		prevEnd = x.Commit.EndLSN
		for j, c := range x.Changes {
			if c.Index != j || c.Kind != Insert {
				t.Fatalf("txn %d change %d: index %d kind %s", i, j, c.Index, c.Kind)
			}
		}
		first := x.Changes[0]
		if first.Relation.QualifiedName() != "public.a" || first.New[0] != int64(n*1000) || first.New[1] != "n0" {
			t.Fatalf("txn %d first change: %s %v", i, first.Relation.QualifiedName(), first.New)
		}
		last := x.Changes[n]
		if last.Relation.QualifiedName() != "public.b" || fmt.Sprint(last.New) != fmt.Sprintf("[%d 1.5]", n) {
			t.Fatalf("txn %d last change: %s %v", i, last.Relation.QualifiedName(), last.New)
		}
	}
	upd := txns[len(sizes)].Changes
	if len(upd) != 1 || upd[0].Kind != Update || upd[0].Old != nil || fmt.Sprint(upd[0].New) != "[1000 x]" {
		t.Fatalf("update: %+v", upd[0])
	}
	del := txns[len(sizes)+1].Changes
	if len(del) != 1 || del[0].Kind != Delete || !del[0].OldIsKey || fmt.Sprint(del[0].Old) != "[3 <nil>]" || del[0].New != nil {
		t.Fatalf("delete: %+v", del[0])
	}
	metrics := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			metrics[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	if metrics["walhook_cdc_changes_total/insert"] != 57 || metrics["walhook_cdc_transactions_total"] != 5 || metrics["walhook_cdc_flushed_lsn_bytes"] == 0 {
		t.Errorf("metrics: %v", metrics)
	}
}

// blockingHandler blocks in Change until its context ends, then returns nil
// as a Handler that swallows cancellation would.
type blockingHandler struct {
	recorder
	entered chan struct{}
}

func (h *blockingHandler) Change(ctx context.Context, c *Change) error {
	close(h.entered)
	<-ctx.Done()
	return nil
}

func TestCancelWhileHandlerBusyStopsAndRollsBack(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	start := setup(t, dsn, []string{"public.t"}, `CREATE TABLE t (id int PRIMARY KEY)`)
	h := &blockingHandler{recorder: *newRecorder(), entered: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- NewStream(StreamOptions{DSN: dsn, Slot: slotFor(t, dsn), Publication: "walhook", Start: start}).Run(ctx, h)
	}()
	pgtest.Exec(t, dsn, `INSERT INTO t VALUES (1)`)
	<-h.entered
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
	if h.rollbacks != 1 {
		t.Fatalf("%d rollbacks, want 1", h.rollbacks)
	}
}
