package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

const e2eSchema = `
CREATE TABLE public.users (id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL, secret text);
ALTER TABLE public.users REPLICA IDENTITY FULL;
CREATE TABLE public.orders (id bigint PRIMARY KEY, user_id bigint, total numeric(10,2), paid boolean DEFAULT false);
`

const e2eConfig = `
source:
  dsn: ${DSN}
delivery:
  allow_networks: [127.0.0.0/8]
tables:
  public.users:
    fields: [id, name, email]
events:
  - name: email_updated
    table: public.users
    on: updated
    when_changed: [email]
subscribers:
  - name: users hook
    table: public.users
    target_url: ${URL}/users
    secret: ${SECRET}
    retry_delay: 100ms
    subscriptions:
      - event: created
      - event: updated
      - event: deleted
      - event: email_updated
        custom_endpoint: email
  - name: orders hook
    table: public.orders
    target_url: ${URL}/orders
    secret: ${SECRET}
    fields: {id: id, order: {total: total, paid: paid}, source: {const: walhook}}
    retry_delay: 100ms
    subscriptions:
      - event: created
      - event: deleted
`

// TestEndToEndHappyPath writes inserts, updates and deletes over two tables
// in transactions of several sizes and checks that every event arrives
// exactly once, signed, with the golden payloads, and that a rolled-back
// transaction produces nothing.
func TestEndToEndHappyPath(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, e2eSchema)
	s := newSink(t)
	cfg := testConfig(t, e2eConfig, dsn, s.srv.URL)
	startPipeline(t, cfg)
	waitSlot(t, dsn, cfg.Source.Slot)

	execSQL(t, dsn,
		`INSERT INTO users VALUES (1, 'Ada', 'ada@example.com', 's1')`,
		`BEGIN; INSERT INTO users SELECT g, 'user' || g, 'u' || g || '@example.com', 'x' FROM generate_series(2, 51) g; COMMIT`,
		`BEGIN; INSERT INTO orders VALUES (1, 1, 9.99, false); INSERT INTO orders VALUES (2, 1, 120.50, true); COMMIT`,
		`BEGIN; INSERT INTO users VALUES (999, 'Ghost', 'ghost@example.com', 'x'); ROLLBACK`,
		`UPDATE users SET email = 'ada@new.example.com' WHERE id = 1`,
		`UPDATE users SET name = 'Ada L.' WHERE id = 1`,
		`DELETE FROM users WHERE id = 2`,
		`DELETE FROM orders WHERE id = 2`,
	)
	// 51 created + 2 updated + 1 email_updated + 1 deleted (users) + 2 created + 1 deleted (orders)
	const want = 58
	evs := s.waitFor(want, 60*time.Second)
	// Settle time for strays: the slot position catches up with the last write.
	waitSettled(t, dsn, cfg.Source.Slot)
	evs = s.snapshot()
	if len(evs) != want {
		t.Fatalf("got %d events, want exactly %d", len(evs), want)
	}
	if bad := s.badRequests(); len(bad) > 0 {
		t.Fatalf("bad requests: %v", bad)
	}
	seen := map[string]bool{}
	for _, e := range evs {
		if seen[e.ID] {
			t.Errorf("event %s delivered twice", e.ID)
		}
		seen[e.ID] = true
		if e.Header != e.ID {
			t.Errorf("webhook-id %q differs from payload id %q", e.Header, e.ID)
		}
		if bytes.Contains(e.Body, []byte("Ghost")) {
			t.Errorf("rolled-back row delivered: %s", e.Body)
		}
		if bytes.Contains(e.Body, []byte(`"secret"`)) {
			t.Errorf("unprojected column delivered: %s", e.Body)
		}
	}
	checkGolden(t, "e2e_happy.golden.json", goldenView(evs, map[string]bool{"1": true, "2": true}))
}

// goldenView keeps the stable parts of the events about the given user and
// order ids, sorted, for golden comparison.
func goldenView(evs []gotEvent, ids map[string]bool) []map[string]any {
	var out []map[string]any
	for _, e := range evs {
		var full map[string]any
		_ = json.Unmarshal(e.Body, &full)
		data, _ := full["data"].(map[string]any)
		if data == nil || !ids[jsonString(data["id"])] {
			continue
		}
		delete(full, "id")
		delete(full, "lsn")
		delete(full, "occurred_at")
		full["path"] = e.Path
		out = append(out, full)
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := json.Marshal(out[i])
		b, _ := json.Marshal(out[j])
		return string(a) < string(b)
	})
	return out
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func checkGolden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		t.Errorf("payloads differ from %s (go test -update rewrites it):\n got: %s\nwant: %s", path, got, want)
	}
}

// waitSlot waits until walhook created its slot.
func waitSlot(t testing.TB, dsn, slot string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for slotFlush(t, dsn, slot) == "" {
		if time.Now().After(deadline) {
			t.Fatalf("slot %q not created within 60s", slot)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSettled waits until the slot's confirmed flush position reaches the
// server's current WAL insert position as of the call.
func waitSettled(t testing.TB, dsn, slot string) {
	t.Helper()
	var target string
	pgtestQuery(t, dsn, `SELECT pg_current_wal_lsn()::text`, &target)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var ok bool
		pgtestQuery(t, dsn, `SELECT coalesce(confirmed_flush_lsn >= '`+target+`'::pg_lsn, false) FROM pg_replication_slots WHERE slot_name = '`+slot+`'`, &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot %q did not reach %s within 60s (at %s)", slot, target, slotFlush(t, dsn, slot))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
