package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgtest"
)

// TestFailingEndpointDoesNotHoldTheWAL: endpoint B answers 503 while rows
// keep being written; endpoint A is healthy. A receives everything while B
// is still down, the slot's confirmed_flush_lsn reaches the end of the
// writes while B is still down, and once B recovers it receives every
// event, per row in commit order.
func TestFailingEndpointDoesNotHoldTheWAL(t *testing.T) {
	t.Parallel()
	const rows, updates = 200, 4
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, `CREATE TABLE public.items (id bigint PRIMARY KEY, v int NOT NULL)`)
	a, b := newSink(t), newSink(t)
	var bDown atomic.Bool
	bDown.Store(true)
	b.status = func(int) int {
		if bDown.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	}
	cfg := testConfig(t, fmt.Sprintf(`
source: {dsn: "${DSN}"}
delivery: {allow_networks: [127.0.0.0/8]}
subscribers:
  - name: healthy
    table: public.items
    target_url: ${URL}/a
    secret: ${SECRET}
    subscriptions: [{event: created}, {event: updated}]
  - name: broken
    table: public.items
    target_url: %s/b
    secret: ${SECRET}
    retry_delay: 100ms
    max_retries: 50
    auto_disable_after_failures: 0
    subscriptions: [{event: created}, {event: updated}]
`, b.srv.URL), dsn, a.srv.URL)
	startPipeline(t, cfg)
	waitSlot(t, dsn, cfg.Source.Slot)

	stmts := []string{fmt.Sprintf(`INSERT INTO items SELECT g, 0 FROM generate_series(1, %d) g`, rows)}
	for u := 1; u <= updates; u++ {
		for id := 1; id <= rows; id += 10 {
			stmts = append(stmts, fmt.Sprintf(`UPDATE items SET v = %d WHERE id BETWEEN %d AND %d`, u, id, id+9))
		}
	}
	execSQL(t, dsn, stmts...)
	total := rows * (1 + updates)

	a.waitFor(total, 60*time.Second)
	waitSettled(t, dsn, cfg.Source.Slot) // the slot passed every write while B is down
	if !bDown.Load() {
		t.Fatal("B recovered too early")
	}
	if got := len(b.snapshot()); got != 0 {
		t.Fatalf("B accepted %d events while down", got)
	}
	bDown.Store(false)
	evs := b.waitFor(total, 2*time.Minute)
	checkPerRowOrder(t, evs, rows, updates)
}

// checkPerRowOrder checks that, per row and subscription, the first
// arrival of each event came in commit order and none is missing: one
// created event with v = 0, then updated events with v = 1, 2, ….
// (DESIGN.md orders per row and subscription; created and updated are two
// subscriptions.)
func checkPerRowOrder(t *testing.T, evs []gotEvent, rows, updates int) {
	t.Helper()
	seen := map[string]bool{}
	next := make(map[int64]int, rows)
	created := make(map[int64]int, rows)
	for _, e := range evs {
		if seen[e.ID] {
			continue // a redelivery
		}
		seen[e.ID] = true
		var d struct{ ID, V int64 }
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		if e.Event == "created" {
			if d.V != 0 {
				t.Fatalf("row %d: created with version %d", d.ID, d.V)
			}
			created[d.ID]++
			continue
		}
		if int(d.V) != next[d.ID]+1 {
			t.Fatalf("row %d: updated version %d arrived after %d (per-row order broken)", d.ID, d.V, next[d.ID])
		}
		next[d.ID]++
	}
	for id := int64(1); id <= int64(rows); id++ {
		if next[id] != updates || created[id] != 1 {
			t.Errorf("row %d: %d created and %d updated events arrived, want 1 and %d", id, created[id], next[id], updates)
		}
	}
}
