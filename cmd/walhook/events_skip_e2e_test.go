package main

import (
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgtest"
)

// TestSkipTransactionLoadsNothing loads 100,000 rows in a transaction after
// the skip message (a change before the message is still delivered), and again in one that starts with
// walhook.disable_webhooks(): neither produces an event, the transaction
// right after each does, and the slot passes the skipped transactions.
func TestSkipTransactionLoadsNothing(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, `CREATE TABLE public.items (id bigint PRIMARY KEY, name text NOT NULL)`)
	s := newSink(t)
	cfg := testConfig(t, `
source: {dsn: "${DSN}"}
delivery: {allow_networks: [127.0.0.0/8]}
subscribers:
  - name: items
    table: public.items
    target_url: ${URL}/items
    secret: ${SECRET}
    subscriptions: [{event: created}, {event: updated}, {event: deleted}]
`, dsn, s.srv.URL)
	startPipeline(t, cfg)
	waitSlot(t, dsn, cfg.Source.Slot)

	execSQL(t, dsn,
		`BEGIN;
		 INSERT INTO items VALUES (-1, 'before the skip message');
		 SELECT pg_logical_emit_message(true, 'walhook', 'skip');
		 INSERT INTO items SELECT g, 'bulk' FROM generate_series(1, 100000) g;
		 COMMIT`,
		`INSERT INTO items VALUES (0, 'after skip message')`,
	)
	s.waitFor(2, 120*time.Second)
	execSQL(t, dsn,
		`BEGIN;
		 SELECT walhook.disable_webhooks();
		 UPDATE items SET name = 'bulk 2' WHERE id > 0;
		 DELETE FROM items WHERE id > 50000;
		 COMMIT`,
		`UPDATE items SET name = 'after disable_webhooks' WHERE id = 0`,
	)
	// expectExactly waits until the slot passed every write above, the
	// skipped transactions included.
	expectExactly(t, s, dsn, cfg.Source.Slot,
		`/items {"event":"created","table":"public.items","data":{"id":-1,"name":"before the skip message"}}`,
		`/items {"event":"created","table":"public.items","data":{"id":0,"name":"after skip message"}}`,
		`/items {"event":"updated","table":"public.items","data":{"id":0,"name":"after disable_webhooks"}}`,
	)
}
