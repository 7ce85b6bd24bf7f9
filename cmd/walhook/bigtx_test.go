package main

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgtest"
)

// TestOneHundredThousandRowTransaction commits 100,000 rows in one
// transaction: every row's event arrives, each exactly once in the happy
// path, and the slot moves past the transaction.
func TestOneHundredThousandRowTransaction(t *testing.T) {
	if testing.Short() {
		t.Skip("100k-row transaction skipped in -short mode")
	}
	const rows = 100000
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, `CREATE TABLE public.big (id bigint PRIMARY KEY, payload text NOT NULL)`)
	s := newSink(t)
	cfg := testConfig(t, fmt.Sprintf(`
source: {dsn: "${DSN}"}
delivery: {allow_networks: [127.0.0.0/8]}
subscribers:
  - name: big
    table: public.big
    target_url: ${URL}/big
    secret: ${SECRET}
    subscriptions: [{event: created}]
`), dsn, s.srv.URL)
	startPipeline(t, cfg)
	waitSlot(t, dsn, cfg.Source.Slot)
	before := slotFlush(t, dsn, cfg.Source.Slot)
	execSQL(t, dsn, `INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 100000) g`)
	evs := s.waitFor(rows, 5*time.Minute)
	seen := make(map[int64]bool, rows)
	for _, e := range evs {
		var d struct{ ID int64 }
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		if seen[d.ID] {
			t.Fatalf("row %d delivered twice", d.ID)
		}
		seen[d.ID] = true
	}
	if len(seen) != rows {
		t.Fatalf("%d distinct rows, want %d", len(seen), rows)
	}
	waitSettled(t, dsn, cfg.Source.Slot)
	if after := slotFlush(t, dsn, cfg.Source.Slot); after == before {
		t.Fatalf("slot did not advance past the transaction (still %s)", after)
	}
}
