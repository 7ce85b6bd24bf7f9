package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/config"
	"github.com/walhook/walhook/internal/pgtest"
)

const pauseYAML = `
source: {dsn: "${DSN}", slot: "${SLOT}"}
delivery: {allow_networks: [127.0.0.1/32]}
admin: {listen: "127.0.0.1:0", token: test-admin-token-0123456789}
subscribers:
  - name: items
    table: public.items
    target_url: ${URL}/items
    secret: ${SECRET}
    retry_delay: 100ms
    subscriptions: [{event: created}, {event: updated}]
`

// fileConfig writes yaml (with ${DSN}, ${URL}, ${SECRET} and ${SLOT}
// replaced) to a file for the walhook commands and loads it for
// startPipeline.
func fileConfig(t *testing.T, yaml, dsn, url string) (path string, cfg *config.Config) {
	t.Helper()
	yaml = strings.NewReplacer("${DSN}", dsn, "${URL}", url, "${SECRET}", testSecret, "${SLOT}", testSlot(dsn)).Replace(yaml)
	path = filepath.Join(t.TempDir(), "walhook.yaml")
	fatalIf(t, os.WriteFile(path, []byte(yaml), 0o600), "write config")
	cfg, err := config.Load(path)
	fatalIf(t, err, "load config")
	return path, cfg
}

// cli runs a walhook command with the configuration at path and fails
// unless it exits with want; it returns stdout (stderr when want is not 0).
func cli(t *testing.T, path string, want int, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCLI(t, append(args, "--config", path)...)
	if code != want {
		t.Fatalf("walhook %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	if want == exitOK {
		return stdout
	}
	return stderr
}

// write is one writer transaction: which row, which version, and whether
// the transaction committed inside a pause window.
type write struct {
	id      int
	version int // 1: created (v1), 2: updated to v2, 3: updated to v3
	paused  bool
}

// pauseWriter writes rows of public.items, each inserted in one
// transaction and updated in each of the next two. Every transaction first takes a
// share lock on walhook's control row and reads paused: walhook pause and
// resume update that row, so a transaction that saw paused=true committed
// after the pause and before the resume, in the WAL as well.
type pauseWriter struct {
	mu     sync.Mutex
	writes []write
}

func (w *pauseWriter) run(stop <-chan struct{}, t *testing.T, dsn string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Errorf("writer: connect: %v", err)
		return
	}
	defer conn.Close(ctx)
	for id := 1; ; id++ {
		select {
		case <-stop:
			return
		default:
		}
		for version, stmt := range []string{
			`INSERT INTO items VALUES ($1, 'v1')`,
			`UPDATE items SET name = 'v2' WHERE id = $1`,
			`UPDATE items SET name = 'v3' WHERE id = $1`,
		} {
			paused, err := w.tx(ctx, conn, stmt, id)
			if err != nil {
				t.Errorf("writer: row %d: %v", id, err)
				return
			}
			w.mu.Lock()
			w.writes = append(w.writes, write{id: id, version: version + 1, paused: paused})
			w.mu.Unlock()
		}
	}
}

func (w *pauseWriter) tx(ctx context.Context, conn *pgx.Conn, stmt string, id int) (paused bool, err error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.Background())
	if err := tx.QueryRow(ctx, `SELECT paused FROM walhook.control WHERE id = 1 FOR SHARE`).Scan(&paused); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, stmt, id); err != nil {
		return false, err
	}
	return paused, tx.Commit(ctx)
}

// counts returns how many writes were done outside and inside a pause.
func (w *pauseWriter) counts() (outside, inside int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, x := range w.writes {
		if x.paused {
			inside++
		} else {
			outside++
		}
	}
	return outside, inside
}

func (w *pauseWriter) all() []write {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]write(nil), w.writes...)
}

// waitWrites waits until the writer did more than outside writes outside
// and inside writes inside a pause.
func (w *pauseWriter) waitWrites(t *testing.T, outside, inside int) {
	t.Helper()
	poll(t, 30*time.Second, fmt.Sprintf("%d/%d writes outside/inside the pause", outside, inside), func() bool {
		o, i := w.counts()
		return o > outside && i > inside
	})
}

// itemVersion decodes an items event into its row id and version.
func itemVersion(t *testing.T, e gotEvent) (id, version int) {
	t.Helper()
	var d struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	fatalIf(t, json.Unmarshal(e.Data, &d), "decode %s", e.Body)
	switch {
	case e.Event == "created" && d.Name == "v1":
		return d.ID, 1
	case e.Event == "updated" && d.Name == "v2":
		return d.ID, 2
	case e.Event == "updated" && d.Name == "v3":
		return d.ID, 3
	}
	t.Fatalf("unexpected event %s", e.Body)
	return 0, 0
}

// startPauseTest starts walhook and a writer; it returns the writer and
// a function that stops the writer.
func startPauseTest(t *testing.T) (dsn, path string, s *sink, w *pauseWriter, stopWriter func()) {
	dsn = pgtest.NewDB(t)
	execSQL(t, dsn, `CREATE TABLE public.items (id bigint PRIMARY KEY, name text NOT NULL)`)
	s = newSink(t)
	path, cfg := fileConfig(t, pauseYAML, dsn, s.srv.URL)
	startPipeline(t, cfg)
	waitSlot(t, dsn, cfg.Source.Slot)

	w = &pauseWriter{}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { defer close(done); w.run(stop, t, dsn) }()
	var once sync.Once
	stopWriter = func() { once.Do(func() { close(stop); <-done }) }
	t.Cleanup(stopWriter)
	return dsn, path, s, w, stopWriter
}

// TestPauseSkipAroundConcurrentWrites pauses in skip mode while a writer
// runs: no event of a transaction committed in the window arrives, every
// other one does; the slot advances while paused; walhook send refuses
// while paused and delivers after resume.
func TestPauseSkipAroundConcurrentWrites(t *testing.T) {
	t.Parallel()
	dsn, path, s, w, stopWriter := startPauseTest(t)
	slot := testSlot(dsn)

	w.waitWrites(t, 20, -1)
	mustContain(t, cli(t, path, exitOK, "pause", "--mode", "skip"), "paused (skip)")
	w.waitWrites(t, 20, 20)
	waitSettled(t, dsn, slot) // the slot advances while paused
	mustContain(t, cli(t, path, exitError, "send", "public.items", "1", "created"), "paused")
	mustContain(t, cli(t, path, exitOK, "resume"), "resumed (was paused in skip mode)")
	_, inside := w.counts()
	w.waitWrites(t, len(w.all())-inside+20, inside-1)
	stopWriter()

	want := map[[2]int]bool{}
	for _, x := range w.all() {
		if !x.paused {
			want[[2]int{x.id, x.version}] = true
		}
	}
	s.waitFor(len(want), 60*time.Second)
	waitSettled(t, dsn, slot)
	evs := s.snapshot()
	got := map[[2]int]bool{}
	for _, e := range evs {
		id, v := itemVersion(t, e)
		k := [2]int{id, v}
		if got[k] {
			t.Errorf("row %d version %d delivered twice", id, v)
		}
		got[k] = true
		if !want[k] {
			t.Errorf("row %d version %d was written while paused in skip mode, but delivered", id, v)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d distinct events, want %d (writes outside the pause)", len(got), len(want))
	}
	t.Logf("%d writes, %d inside the pause window", len(w.all()), inside)

	// walhook send after the resume delivers the row with the context.
	cli(t, path, exitOK, "send", "public.items", "1", "updated", "--context", `{"by":"ops"}`)
	evs = s.waitFor(len(want)+1, 30*time.Second)
	last := evs[len(evs)-1]
	if got := stable(last); got != `/items {"event":"updated","table":"public.items","data":{"id":1,"name":"v3"},"context":{"by":"ops"}}` {
		t.Fatalf("manual send delivered %s", got)
	}
	if !strings.HasPrefix(last.ID, "evt_m_") || strings.Contains(string(last.Body), `"lsn"`) {
		t.Fatalf("manual send: id %q, body %s: want an evt_m_ id and no lsn", last.ID, last.Body)
	}
}

// TestPauseHoldAroundConcurrentWrites pauses in hold mode while a writer
// runs: the window's events are parked, arrive only after resume, none is
// lost, and each row's updates keep their order; the slot advances while
// paused.
func TestPauseHoldAroundConcurrentWrites(t *testing.T) {
	t.Parallel()
	dsn, path, s, w, stopWriter := startPauseTest(t)
	slot := testSlot(dsn)

	w.waitWrites(t, 20, -1)
	mustContain(t, cli(t, path, exitOK, "pause", "--mode", "hold"), "paused (hold)")
	w.waitWrites(t, 20, 20)
	waitSettled(t, dsn, slot) // the slot advances while paused
	// Nothing from the window arrived yet: everything settled is either
	// delivered (outside) or held (inside).
	for _, e := range s.snapshot() {
		id, v := itemVersion(t, e)
		for _, x := range w.all() {
			if x.id == id && x.version == v && x.paused {
				t.Errorf("row %d version %d written while paused in hold mode was delivered before resume", id, v)
			}
		}
	}
	var held int
	pgtestQuery(t, dsn, `SELECT count(*) FROM walhook.retry_queue WHERE status = 'held'`, &held)
	if held == 0 {
		t.Errorf("no held events in the retry queue while paused in hold mode")
	}
	mustContain(t, cli(t, path, exitOK, "resume"), "resumed (was paused in hold mode)")
	_, inside := w.counts()
	w.waitWrites(t, len(w.all())-inside+20, inside-1)
	stopWriter()

	all := w.all()
	evs := s.waitFor(len(all), 60*time.Second)
	waitSettled(t, dsn, slot)
	poll(t, 30*time.Second, "empty retry queue", func() bool {
		var n int
		pgtestQuery(t, dsn, `SELECT count(*) FROM walhook.retry_queue`, &n)
		return n == 0
	})
	evs = s.snapshot()
	inWindow := map[[2]int]bool{}
	for _, x := range all {
		inWindow[[2]int{x.id, x.version}] = x.paused
	}
	seen := map[[2]int]bool{}
	dumped := false
	for _, e := range evs {
		id, v := itemVersion(t, e)
		k := [2]int{id, v}
		if seen[k] {
			t.Errorf("row %d version %d delivered twice", id, v)
		}
		// Order is per row and subscription: created and updated are two
		// subscriptions, the two updates one.
		if v == 3 && !seen[[2]int{id, 2}] {
			// The row's update before the pause may still be in the
			// dispatcher's memory as the next one is held: the held one
			// must wait behind it, and the release behind both.
			t.Errorf("per-row order broken across a hold: row %d: update to v3 (in pause window: %v) arrived before the update to v2 (in pause window: %v)", id, inWindow[k], inWindow[[2]int{id, 2}])
			if !dumped {
				dumped = true
				dumpDeliveries(t, dsn, id)
			}
		}
		seen[k] = true
	}
	if len(seen) != len(all) {
		t.Fatalf("%d distinct events, want %d (every write, %d held)", len(seen), len(all), inside)
	}
	t.Logf("%d writes, %d inside the pause window", len(all), inside)
}

// TestDisabledDeliversNothing runs walhook with disabled: true: writes
// produce no event and the slot still advances past them.
func TestDisabledDeliversNothing(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, `CREATE TABLE public.items (id bigint PRIMARY KEY, name text NOT NULL)`)
	s := newSink(t)
	cfg := testConfig(t, `
source: {dsn: "${DSN}"}
disabled: true
delivery: {allow_networks: [127.0.0.0/8]}
subscribers:
  - name: items
    table: public.items
    target_url: ${URL}/items
    secret: ${SECRET}
    subscriptions: [{event: created}, {event: updated}]
`, dsn, s.srv.URL)
	startPipeline(t, cfg)
	waitSlot(t, dsn, cfg.Source.Slot)
	before := slotFlush(t, dsn, cfg.Source.Slot)
	execSQL(t, dsn,
		`INSERT INTO items SELECT g, 'x' FROM generate_series(1, 1000) g`,
		`UPDATE items SET name = 'y'`,
		`SELECT walhook.send_webhook('public.items', '{"id":1}', 'updated')`,
	)
	waitSettled(t, dsn, cfg.Source.Slot)
	if after := slotFlush(t, dsn, cfg.Source.Slot); after == before {
		t.Errorf("slot did not advance (still %s)", after)
	}
	if evs := s.snapshot(); len(evs) != 0 {
		t.Fatalf("%d events delivered with disabled: true, first %s", len(evs), evs[0].Body)
	}
}

// dumpDeliveries logs the delivery log rows of one items row, to show how
// its events were delivered.
func dumpDeliveries(t *testing.T, dsn string, id int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	fatalIf(t, err, "connect")
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id, event_id, event_name, attempt_number, coalesce(response_status, 0), coalesce(error_message, ''), created_at::text
FROM walhook.delivery_log WHERE request_payload::jsonb -> 'data' ->> 'id' = $1 ORDER BY id`, fmt.Sprint(id))
	fatalIf(t, err, "query delivery log")
	defer rows.Close()
	for rows.Next() {
		var logID int64
		var ev, name, msg, at string
		var attempt, status int
		fatalIf(t, rows.Scan(&logID, &ev, &name, &attempt, &status, &msg, &at), "scan")
		t.Logf("row %d: log %d %s %s attempt %d status %d %q at %s", id, logID, ev, name, attempt, status, msg, at)
	}
}
