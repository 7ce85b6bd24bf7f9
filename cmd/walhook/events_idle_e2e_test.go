package main

import (
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgtest"
)

// TestIdleDatabaseSlotAdvancesWhileClusterIsBusy leaves walhook's database
// idle while another database of the same server writes about 200 MB of
// WAL: walhook's slot must follow the server's WAL position within a
// minute (keepalive acknowledgements and heartbeats), so that an idle
// database never makes the primary keep WAL.
func TestIdleDatabaseSlotAdvancesWhileClusterIsBusy(t *testing.T) {
	if testing.Short() {
		t.Skip("200 MB of WAL skipped in -short mode")
	}
	// Not parallel, on purpose: WAL is cluster-wide, so every replication
	// slot of a test running meanwhile would have to decode these 200 MB
	// too and could miss its own deadlines. Sequential tests run before
	// the parallel ones are released, so this one runs alone and the slots
	// of later tests start past its WAL.
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, `CREATE TABLE public.items (id bigint PRIMARY KEY, name text NOT NULL)`)
	busy := pgtest.NewDB(t) // another database on the same server
	s := newSink(t)
	cfg := testConfig(t, `
source: {dsn: "${DSN}"}
delivery: {allow_networks: [127.0.0.0/8]}
subscribers:
  - name: items
    table: public.items
    target_url: ${URL}/items
    secret: ${SECRET}
    subscriptions: [{event: created}]
`, dsn, s.srv.URL)
	startPipeline(t, cfg)
	waitSlot(t, dsn, cfg.Source.Slot)
	var start string
	pgtestQuery(t, dsn, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '`+cfg.Source.Slot+`'`, &start)

	// 210 messages of 1 MB: over 200 MB of WAL, none of it walhook's.
	for i := 0; i < 21; i++ {
		execSQL(t, busy, `SELECT count(pg_logical_emit_message(false, 'other', repeat('x', 1000000))) FROM generate_series(1, 10)`)
	}
	var target string
	var written int64
	pgtestQuery(t, busy, `SELECT pg_current_wal_lsn()::text, pg_wal_lsn_diff(pg_current_wal_lsn(), '`+start+`')::bigint`, &target, &written)
	if written < 200_000_000 {
		t.Fatalf("wrote %d bytes of WAL, want over 200 MB", written)
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		var behind int64
		pgtestQuery(t, dsn, `SELECT pg_wal_lsn_diff('`+target+`', confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = '`+cfg.Source.Slot+`'`, &behind)
		if behind <= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot %s still %d bytes behind %s 60s after %d bytes of WAL were written elsewhere", cfg.Source.Slot, behind, target, written)
		}
		time.Sleep(100 * time.Millisecond) // polling the slot position, not synchronising
	}
	if n := len(s.snapshot()); n != 0 {
		t.Fatalf("%d events from an idle database", n)
	}
}
