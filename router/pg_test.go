package router

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/deliver"
	"github.com/walhook/walhook/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const pgYAML = `
source:
  dsn: postgres://unused
tables:
  public.users:
    fields: [id, name, email]
events:
  - name: email_updated
    table: public.users
    on: updated
    when_changed: [email]
  - name: paid
    table: public.orders
subscribers:
  - name: crm
    table: public.users
    target_url: https://crm.example.com/hooks
    subscriptions: [{event: created}, {event: updated}, {event: deleted}, {event: email_updated}]
  - name: billing
    table: public.orders
    target_url: https://billing.example.com/hooks
    subscriptions: [{event: paid}, {event: truncated}]
`

// settlingSubmitter settles every event at once and signals each one.
type settlingSubmitter struct {
	mu     sync.Mutex
	events []*deliver.Event
	more   chan struct{}
}

func (s *settlingSubmitter) Submit(_ context.Context, ev *deliver.Event) error {
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
	ev.Settle()
	select {
	case s.more <- struct{}{}:
	default:
	}
	return nil
}

// waitFor polls until an event satisfies ok or the deadline passes.
func (s *settlingSubmitter) waitFor(t *testing.T, ok func(*deliver.Event) bool) []*deliver.Event {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		s.mu.Lock()
		evs := append([]*deliver.Event(nil), s.events...)
		s.mu.Unlock()
		for _, ev := range evs {
			if ok(ev) {
				return evs
			}
		}
		select {
		case <-s.more:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out; got %d events: %s", len(evs), bodies(evs))
		}
	}
}

// End to end against PostgreSQL: the real stream feeds the router, and
// the events that must arrive do, exactly those, in commit order.
func TestRouterWithPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	pgtest.Exec(t, dsn,
		`CREATE TABLE public.users (id bigint PRIMARY KEY, name text, email text, bio text)`,
		`ALTER TABLE public.users REPLICA IDENTITY FULL`,
		`CREATE TABLE public.orders (id bigint PRIMARY KEY, status text)`,
		`CREATE SCHEMA walhook`,
		`CREATE TABLE walhook.control (id integer PRIMARY KEY, paused boolean NOT NULL DEFAULT false,
			mode text NOT NULL DEFAULT 'skip', updated_at timestamptz NOT NULL DEFAULT now())`,
		`ALTER TABLE walhook.control REPLICA IDENTITY FULL`,
		`INSERT INTO walhook.control (id) VALUES (1)`,
	)
	sub, tr, start := pgRouter(t, dsn, "router_e2e", "public.users", "public.orders", "walhook.control")

	pgtest.Exec(t, dsn,
		`INSERT INTO public.users VALUES (1, 'Ada', 'ada@example.com', 'bio')`,
		`UPDATE public.users SET email = 'ada@new.example.com' WHERE id = 1`,
		`BEGIN; SELECT pg_logical_emit_message(true, 'walhook', 'skip'); INSERT INTO public.users VALUES (2, 'Skip', 's@x', ''); COMMIT`,
		`BEGIN; INSERT INTO public.orders VALUES (10, 'paid');
		 SELECT pg_logical_emit_message(true, 'walhook', '{"event":"paid","table":"public.orders","key":{"id":10},"context":{"method":"stripe"}}'); COMMIT`,
		`BEGIN; SELECT pg_logical_emit_message(true, 'walhook', '{"event":"paid","table":"public.orders","key":{"id":11},"data":{"id":11}}'); ROLLBACK`,
		`UPDATE walhook.control SET paused = true, mode = 'skip'`,
		`INSERT INTO public.users VALUES (3, 'Paused', 'p@x', '')`,
		`UPDATE walhook.control SET paused = false`,
		`DELETE FROM public.users WHERE id = 1`,
		`TRUNCATE public.orders`,
		`INSERT INTO public.users VALUES (4, 'Last', 'last@x', '')`,
	)
	evs := sub.waitFor(t, func(ev *deliver.Event) bool { return strings.Contains(string(ev.Body), `"id":4`) })
	want := []string{
		`"event":"created","table":"public.users"`, `"data":{"id":1,"name":"Ada","email":"ada@example.com"}}`,
		`"event":"updated"`, `"previous":{"id":1,"name":"Ada","email":"ada@example.com"},"changed":["email"]}`,
		`"event":"email_updated"`, `"changed":["email"]}`,
		`"event":"paid","table":"public.orders"`, `"data":{"id":10,"status":"paid"},"context":{"method":"stripe"}}`,
		`"event":"deleted"`, `"data":{"id":1,"name":"Ada","email":"ada@new.example.com"}}`,
		`"event":"truncated","table":"public.orders"`, `"}`,
		`"event":"created"`, `"data":{"id":4,"name":"Last","email":"last@x"}}`,
	}
	if len(evs) != len(want)/2 {
		t.Fatalf("got %d events, want %d:\n%s", len(evs), len(want)/2, bodies(evs))
	}
	for i, ev := range evs {
		if !json.Valid(ev.Body) || !strings.Contains(string(ev.Body), want[2*i]) || !strings.HasSuffix(string(ev.Body), want[2*i+1]) {
			t.Errorf("event %d: %s\nwant %s … %s", i, ev.Body, want[2*i], want[2*i+1])
		}
		if ev.Name == EventTruncated && strings.Contains(string(ev.Body), `"data"`) {
			t.Errorf("truncated event has data: %s", ev.Body)
		}
	}
	// Every event settled at once, so the flush position has passed the
	// earlier transactions (skipped and paused ones included).
	if got := tr.Settled(0); got <= start {
		t.Errorf("flush position %s did not pass the start %s", got, start)
	}
}

// pgRouter streams dsn's public.users and public.orders into a Router
// over pgYAML until the test ends.
func pgRouter(t *testing.T, dsn, slot string, tables ...string) (*settlingSubmitter, *cdc.Tracker, cdc.LSN) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	start, err := cdc.Prepare(ctx, dsn, cdc.SetupOptions{Slot: slot, Publication: "walhook", Tables: tables})
	if err != nil {
		t.Fatal(err)
	}
	cfg := mustConfig(t, pgYAML)
	src, err := StaticSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr := cdc.NewTracker(start)
	sub := &settlingSubmitter{more: make(chan struct{}, 1)}
	r, err := New(Options{Source: src, Submitter: sub, Tracker: TrackerOf(tr), Events: cfg.Events, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	stream := cdc.NewStream(cdc.StreamOptions{DSN: dsn, Slot: slot, Publication: "walhook", Start: start,
		Settled: tr.Settled, HeartbeatInterval: -1, StatusInterval: time.Second, Logger: zerolog.Nop()})
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx, r) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("stream: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("stream.Run did not return within 30s of cancellation")
		}
	})
	return sub, tr, start
}

// 100,000 rows loaded in a skipping transaction produce nothing, the
// transaction right after it does, and the flush position passes both.
func TestSkipBulkLoadWithPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	pgtest.Exec(t, dsn,
		`CREATE TABLE public.users (id bigint PRIMARY KEY, name text, email text, bio text)`,
		`CREATE TABLE public.orders (id bigint PRIMARY KEY, status text)`)
	sub, tr, start := pgRouter(t, dsn, "router_skip", "public.users", "public.orders")
	pgtest.Exec(t, dsn,
		`BEGIN; SELECT pg_logical_emit_message(true, 'walhook', 'skip');
		 INSERT INTO public.users SELECT g, 'bulk', 'bulk@x', '' FROM generate_series(1, 100000) g; COMMIT`,
		`INSERT INTO public.users VALUES (0, 'after', 'after@x', '')`)
	evs := sub.waitFor(t, func(ev *deliver.Event) bool { return ev.OrderKey == "0" })
	if len(evs) != 1 {
		t.Fatalf("got %d events, want only the one after the bulk load", len(evs))
	}
	// Both transactions were sealed; the last one's event is settled, so
	// nothing stays pending and the position moved past the bulk load.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for tr.Pending() > 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("%d transactions still pending", tr.Pending())
		case <-time.After(10 * time.Millisecond): // poll with a deadline
		}
	}
	if got := tr.Settled(0); got <= start {
		t.Errorf("flush position %s did not pass the start %s", got, start)
	}
}
