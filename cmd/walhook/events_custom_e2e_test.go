package main

import (
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgtest"
)

const customSchema = `
CREATE TABLE public.orders (id bigint PRIMARY KEY, status text NOT NULL, total int);
INSERT INTO public.orders VALUES (456, 'new', 10), (457, 'new', 20), (458, 'new', 30);
`

const customYAML = `
source: {dsn: "${DSN}"}
delivery: {allow_networks: [127.0.0.0/8]}
events:
  - {name: paid, table: public.orders}
subscribers:
  - name: billing
    table: public.orders
    target_url: ${URL}/billing
    secret: ${SECRET}
    subscriptions: [{event: paid}, {event: created}]
`

// TestCustomEventsFromSQL emits custom events with pg_logical_emit_message
// and walhook.send_webhook inside application transactions: the data comes
// from the transaction's own change, else a read by key, else the message;
// a rolled-back transaction's event never arrives; bad messages are logged
// and the stream goes on.
func TestCustomEventsFromSQL(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, customSchema)
	s := newSink(t)
	cfg := testConfig(t, customYAML, dsn, s.srv.URL)
	startPipeline(t, cfg)
	waitSlot(t, dsn, cfg.Source.Slot)

	execSQL(t, dsn,
		// From the transaction's own change: the later update to shipped must not show.
		`BEGIN;
		 UPDATE orders SET status = 'paid' WHERE id = 456;
		 SELECT pg_logical_emit_message(true, 'walhook', '{"event":"paid","table":"public.orders","key":{"id":456},"context":{"payment_method":"stripe"}}');
		 COMMIT`,
		`UPDATE orders SET status = 'shipped' WHERE id = 456`,
		// Rolled back: never delivered.
		`BEGIN;
		 UPDATE orders SET status = 'paid' WHERE id = 458;
		 SELECT pg_logical_emit_message(true, 'walhook', '{"event":"paid","table":"public.orders","key":{"id":458},"context":{"rolled":"back"}}');
		 ROLLBACK`,
		`BEGIN;
		 SELECT walhook.send_webhook('public.orders', '{"id":458}', 'paid', '{"rolled":"back"}');
		 ROLLBACK`,
		// Read by key: the transaction did not change the row (nothing
		// changes row 458 later, so the read is deterministic).
		`SELECT walhook.send_webhook('public.orders', '{"id":458}', 'paid', '{"payment_method":"card"}')`,
		// The SQL helper in the transaction that changes the row.
		`BEGIN;
		 UPDATE orders SET total = 21 WHERE id = 457;
		 SELECT walhook.send_webhook('public.orders', '{"id":457}', 'paid', '{"payment_method":"stripe"}');
		 COMMIT`,
		`UPDATE orders SET total = 22 WHERE id = 457`,
		// No such row: the message's data, as given.
		`SELECT pg_logical_emit_message(true, 'walhook', '{"event":"paid","table":"public.orders","key":{"id":999},"data":{"id":999,"note":"archived"}}')`,
		// Messages walhook cannot use: logged, the stream goes on.
		`SELECT pg_logical_emit_message(true, 'walhook', '{"event":"nope","table":"public.orders","key":{"id":456}}')`,
		`SELECT pg_logical_emit_message(true, 'walhook', '{not json')`,
		`SELECT pg_logical_emit_message(true, 'walhook', '{"event":"paid","table":"public.orders","key":{"id":456},"contxt":{}}')`,
		`SELECT pg_logical_emit_message(true, 'walhook', '{"event":"paid","table":"public.nosuch","key":{"id":456}}')`,
		// Not transactional: not a custom event.
		`SELECT pg_logical_emit_message(false, 'walhook', '{"event":"paid","table":"public.orders","key":{"id":456},"context":{"transactional":false}}')`,
		`SELECT pg_logical_emit_message(true, 'other', '{"event":"paid","table":"public.orders","key":{"id":456}}')`,
		`INSERT INTO orders VALUES (500, 'marker', 0)`,
	)
	expectExactly(t, s, dsn, cfg.Source.Slot,
		`/billing {"event":"paid","table":"public.orders","data":{"id":456,"status":"paid","total":10},"context":{"payment_method":"stripe"}}`,
		`/billing {"event":"paid","table":"public.orders","data":{"id":458,"status":"new","total":30},"context":{"payment_method":"card"}}`,
		`/billing {"event":"paid","table":"public.orders","data":{"id":457,"status":"new","total":21},"context":{"payment_method":"stripe"}}`,
		`/billing {"event":"paid","table":"public.orders","data":{"id":999,"note":"archived"}}`,
		`/billing {"event":"created","table":"public.orders","data":{"id":500,"status":"marker","total":0}}`,
	)
}

// TestCustomEventCompositeKeyAndSilenced sends a custom event for a row
// with a composite key (read by key, and from the transaction's change),
// and checks that one emitted after a skip message is silenced with the
// rest of its transaction.
func TestCustomEventCompositeKeyAndSilenced(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, `
CREATE TABLE public.lines (order_id bigint, line int, qty int NOT NULL, PRIMARY KEY (order_id, line));
INSERT INTO public.lines VALUES (456, 1, 3), (456, 2, 5);
`)
	s := newSink(t)
	cfg := testConfig(t, `
source: {dsn: "${DSN}"}
delivery: {allow_networks: [127.0.0.0/8]}
events:
  - {name: shipped, table: public.lines}
subscribers:
  - name: warehouse
    table: public.lines
    target_url: ${URL}/lines
    secret: ${SECRET}
    subscriptions: [{event: shipped}, {event: created}]
`, dsn, s.srv.URL)
	startPipeline(t, cfg)
	waitSlot(t, dsn, cfg.Source.Slot)
	// No change of lines was streamed yet: the row read by key below
	// still has the table's column order (order_id, line, qty).
	execSQL(t, dsn,
		`SELECT walhook.send_webhook('public.lines', '{"line":1,"order_id":456}', 'shipped', '{"first":true}')`)
	s.waitFor(1, 60*time.Second)
	execSQL(t, dsn, `INSERT INTO lines VALUES (1, 1, 1)`)
	s.waitFor(2, 60*time.Second)

	execSQL(t, dsn,
		`SELECT walhook.send_webhook('public.lines', '{"order_id":456,"line":1}', 'shipped', '{"carrier":"dhl"}')`,
		`BEGIN;
		 UPDATE lines SET qty = 6 WHERE order_id = 456 AND line = 2;
		 SELECT walhook.send_webhook('public.lines', '{"line":2,"order_id":456}', 'shipped');
		 COMMIT`,
		`BEGIN;
		 SELECT walhook.disable_webhooks();
		 SELECT walhook.send_webhook('public.lines', '{"order_id":456,"line":1}', 'shipped', '{"silenced":true}');
		 COMMIT`,
		`INSERT INTO lines VALUES (457, 1, 1)`,
	)
	expectExactly(t, s, dsn, cfg.Source.Slot,
		`/lines {"event":"shipped","table":"public.lines","data":{"order_id":456,"line":1,"qty":3},"context":{"first":true}}`,
		`/lines {"event":"created","table":"public.lines","data":{"order_id":1,"line":1,"qty":1}}`,
		`/lines {"event":"shipped","table":"public.lines","data":{"order_id":456,"line":1,"qty":3},"context":{"carrier":"dhl"}}`,
		`/lines {"event":"shipped","table":"public.lines","data":{"order_id":456,"line":2,"qty":6}}`,
		`/lines {"event":"created","table":"public.lines","data":{"order_id":457,"line":1,"qty":1}}`,
	)
}
