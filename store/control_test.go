package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestSQLHelpersEmitMessages(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	exec(t, db, `SELECT pg_create_logical_replication_slot('helpers', 'test_decoding')`)
	exec(t, db, `SELECT walhook.send_webhook('public.orders', '{"id": 456}', 'paid', '{"payment_method": "stripe"}')`)
	exec(t, db, `SELECT walhook.send_webhook('public.orders', '{"id": 7}', 'shipped')`)
	exec(t, db, `SELECT walhook.disable_webhooks()`)
	// A rolled-back transaction emits nothing.
	tx, err := db.pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), `SELECT walhook.send_webhook('public.orders', '{"id": 1}', 'rolled_back')`); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback(context.Background())

	// The test server commits asynchronously: wait until the WAL is flushed.
	eventually(t, "messages decoded", func() bool {
		return scalar[int](t, db, `SELECT count(*) FROM pg_logical_slot_peek_changes('helpers', NULL, NULL) WHERE data LIKE 'message:%'`) == 3
	})
	got := scalar[string](t, db, `SELECT string_agg(substring(data FROM 'prefix: (walhook, sz: \d+ content:.*)$'), E'\n') FROM pg_logical_slot_peek_changes('helpers', NULL, NULL) WHERE data LIKE 'message:%'`)
	want := strings.Join([]string{
		`walhook, sz: 104 content:{"key": {"id": 456}, "event": "paid", "table": "public.orders", "context": {"payment_method": "stripe"}}`,
		`walhook, sz: 79 content:{"key": {"id": 7}, "event": "shipped", "table": "public.orders", "context": {}}`,
		`walhook, sz: 4 content:skip`,
	}, "\n")
	if got != want {
		t.Fatalf("messages:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(scalar[string](t, db, `SELECT string_agg(data, ' ') FROM pg_logical_slot_peek_changes('helpers', NULL, NULL)`), "transactional: 1") {
		t.Error("messages are not transactional")
	}
}

func TestSQLHelperRefusesBadInput(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	for sql, want := range map[string]string{
		`SELECT walhook.send_webhook('orders', '{"id": 1}', 'paid')`:         "schema-qualified",
		`SELECT walhook.send_webhook('public.orders', '456', 'paid')`:        "JSON object",
		`SELECT walhook.send_webhook('public.orders', '{"id": 1}', '')`:      "non-empty event",
		`SELECT walhook.send_webhook('public.orders', '{"id":1}', 'p', '1')`: "context must be a JSON object",
	} {
		_, err := db.pool.Exec(context.Background(), sql)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to say %q", sql, err, want)
		}
	}
}

func TestPauseState(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	ctx := context.Background()
	p, err := db.PauseState(ctx)
	if err != nil || p.Paused || p.Mode != "skip" {
		t.Fatalf("initial PauseState = %+v, %v", p, err)
	}
	if err := db.SetPause(ctx, true, "hold", "alice"); err != nil {
		t.Fatal(err)
	}
	p, _ = db.PauseState(ctx)
	if !p.Paused || p.Mode != "hold" || p.UpdatedBy != "alice" || time.Since(p.UpdatedAt) > time.Minute {
		t.Fatalf("after pause: %+v", p)
	}
	if err := db.SetPause(ctx, false, "", "bob"); err != nil {
		t.Fatal(err)
	}
	p, _ = db.PauseState(ctx)
	if p.Paused || p.Mode != "hold" || p.UpdatedBy != "bob" {
		t.Fatalf("after resume: %+v", p)
	}
	if err := db.SetPause(ctx, true, "later", "x"); err == nil || !strings.Contains(err.Error(), "skip") {
		t.Fatalf("SetPause with a bad mode: %v", err)
	}
}

func TestLeaderLockHandsOver(t *testing.T) {
	t.Parallel()
	db, dsn := openDB(t, Options{})
	db2 := openDSN(t, dsn, "walhook", Options{})
	ctx := context.Background()
	first, err := db.Leader(ctx, "walhook")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *Leader, 1)
	go func() {
		l, err := db2.Leader(ctx, "walhook")
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	// The second waits while the first holds the lock.
	eventually(t, "second waiting on the lock", func() bool {
		return scalar[int](t, db, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`) == 1
	})
	select {
	case <-got:
		t.Fatal("second process got the lock while the first held it")
	default:
	}
	// Another slot is independent.
	other, err := db2.Leader(ctx, "other-slot")
	if err != nil {
		t.Fatal(err)
	}
	other.Release()
	// The holder dies: its connection goes, the waiter takes over.
	exec(t, db, `SELECT pg_terminate_backend($1)`, int(first.conn.PgConn().PID()))
	second := <-got
	defer second.Release()
	if err := first.Watch(ctx, 10*time.Millisecond); err == nil {
		t.Fatal("Watch did not notice the lost lock")
	}
	first.Release()
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := db.AcquireLeader(cctx, "walhook"); err == nil {
		t.Fatal("AcquireLeader succeeded while another holds the lock")
	}
}
