package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/config"
	"github.com/walhook/walhook/deliver"
	"github.com/walhook/walhook/internal/pgtest"
)

func TestMain(m *testing.M) {
	pgtest.MainWithCleanup(m, func() {
		if dir := binDir.Load(); dir != nil {
			_ = os.RemoveAll(*dir)
		}
	})
}

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// gotEvent is one webhook as a test receiver saw it.
type gotEvent struct {
	ID      string          `json:"id"`
	Event   string          `json:"event"`
	Table   string          `json:"table"`
	LSN     string          `json:"lsn"`
	Data    json.RawMessage `json:"data"`
	Prev    json.RawMessage `json:"previous"`
	Changed []string        `json:"changed"`
	Path    string          `json:"-"`
	Header  string          `json:"-"` // webhook-id
	Body    []byte          `json:"-"`
}

// sink is a verifying test receiver that records every event.
type sink struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	events []gotEvent
	bad    []string
	status func(n int) int // response status for the n-th request (from 1); nil = 204
	reqs   int
	notify chan struct{}
}

func newSink(t testing.TB) *sink {
	s := &sink{t: t, notify: make(chan struct{}, 1)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.reqs++
	n := s.reqs
	status := http.StatusNoContent
	if s.status != nil {
		status = s.status(n)
	}
	s.mu.Unlock()
	if status >= 300 {
		w.WriteHeader(status)
		return
	}
	if err := deliver.Verify([]string{testSecret}, r.Header, body, time.Minute); err != nil {
		s.mu.Lock()
		s.bad = append(s.bad, err.Error())
		s.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev gotEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		s.mu.Lock()
		s.bad = append(s.bad, "bad JSON: "+err.Error())
		s.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	ev.Path, ev.Header, ev.Body = r.URL.Path, r.Header.Get("webhook-id"), body
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	w.WriteHeader(status)
}

// snapshot returns the events received so far.
func (s *sink) snapshot() []gotEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gotEvent(nil), s.events...)
}

// since returns the events that arrived after the first i.
func (s *sink) since(i int) []gotEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gotEvent(nil), s.events[min(i, len(s.events)):]...)
}

// count returns how many events arrived so far.
func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// waitFor waits until at least n events arrived, failing after timeout.
func (s *sink) waitFor(n int, timeout time.Duration) []gotEvent {
	s.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if got := s.count(); got >= n {
			return s.snapshot()
		}
		select {
		case <-deadline.C:
			s.t.Fatalf("received %d events, want %d within %v (bad requests: %v)", s.count(), n, timeout, s.badRequests())
		case <-s.notify:
		case <-tick.C:
		}
	}
}

func (s *sink) badRequests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bad...)
}

// testConfig parses YAML with ${DSN} and ${URL} replaced.
func testConfig(t testing.TB, yaml, dsn, url string) *config.Config {
	t.Helper()
	env := map[string]string{"DSN": dsn, "URL": url, "SECRET": testSecret}
	cfg, err := config.Parse("test.yaml", []byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	if cfg.Source.Slot == "walhook" {
		// Slots are cluster-wide: parallel tests need their own.
		cfg.Source.Slot = testSlot(dsn)
	}
	if cfg.Admin.Listen == "127.0.0.1:8089" {
		cfg.Admin.Listen = "127.0.0.1:0" // parallel tests: any free port
	}
	return cfg
}

// testSlot names a replication slot after the test database in dsn.
func testSlot(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "walhook"
	}
	return "wh_" + strings.TrimPrefix(u.Path, "/")
}

// startPipeline runs walhook in-process on cfg until the test ends and
// returns a function that stops it and waits for a clean exit.
func startPipeline(t testing.TB, cfg *config.Config) (stop func()) {
	t.Helper()
	g := &globalFlags{logLevel: envOr("WALHOOK_TEST_LOG_LEVEL", "warn"), logFormat: "console"}
	lg, err := g.newLogging(testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runPipeline(ctx, cfg, lg) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("walhook exited with: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Errorf("walhook did not stop within 60s")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// testWriter sends logs to the test log, after the test ends to stderr.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // logging after the test ended
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// execSQL runs statements, each in its own implicit transaction.
func execSQL(t testing.TB, dsn string, stmts ...string) {
	t.Helper()
	pgtest.Exec(t, dsn, stmts...)
}

// slotFlush returns the slot's confirmed_flush_lsn as text ("" if none).
func slotFlush(t testing.TB, dsn, slot string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var lsn *string
	err = conn.QueryRow(ctx, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&lsn)
	if errors.Is(err, pgx.ErrNoRows) || lsn == nil {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return *lsn
}

func fatalIf(t testing.TB, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

var _ = os.Getenv

// pgtestQuery scans one row of query into dst.
func pgtestQuery(t testing.TB, dsn, query string, dst ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, query).Scan(dst...); err != nil {
		t.Fatalf("query %q: %v", query, err)
	}
}
