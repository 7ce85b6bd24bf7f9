package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walhook/walhook/cdc"
)

// followHandler feeds the stream's changes of the subscription tables to
// db, as the router does, and records what Lookup answers after each
// commit.
type followHandler struct {
	db      *DB
	t       *testing.T
	want    int
	cancel  context.CancelFunc
	mu      sync.Mutex
	seen    []string  // Lookup state after each commit
	ends    []cdc.LSN // each commit's end LSN
	changes []*cdc.Change
	applied bool
	err     error
}

func (h *followHandler) Begin(context.Context, *cdc.Begin) error { h.applied = false; return nil }
func (h *followHandler) Rollback(context.Context) error          { h.db.Discard(); return nil }

func (h *followHandler) Change(_ context.Context, c *cdc.Change) error {
	h.db.Apply(c)
	h.applied = true
	h.mu.Lock()
	h.changes = append(h.changes, c)
	h.mu.Unlock()
	return nil
}

func (h *followHandler) Commit(ctx context.Context, c *cdc.Commit) error {
	if h.applied {
		if err := h.db.Commit(ctx, c.EndLSN); err != nil {
			return err
		}
	}
	st := followState(ctx, h.db)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen = append(h.seen, st)
	h.ends = append(h.ends, c.EndLSN)
	if len(h.seen) == h.want {
		h.cancel()
	}
	return nil
}

// followState summarises the subscriptions of public.users: key=on|off,
// the endpoint URL and the projection's columns ("all" without one).
func followState(ctx context.Context, db *DB) string {
	var parts []string
	for _, ev := range []string{"created", "updated"} {
		subs, err := db.Lookup(ctx, "public.users", ev)
		if err != nil {
			return "error: " + err.Error()
		}
		for _, s := range subs {
			st := "on"
			if !s.Active {
				st = "off"
			}
			proj := "all"
			if s.Projection != nil {
				proj = strings.Join(s.Projection.Columns(), ",")
			}
			parts = append(parts, fmt.Sprintf("%s=%s %s %s", s.Key, st, s.Endpoint.URL, proj))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// TestFollowAppliesChangesAtTheirPlace: with the tables already at their
// final state (the subscriber deleted), a stream read afterwards still
// sees each change of the subscription tables take effect exactly at its
// transaction, including a TOASTed projection the server does not resend;
// a restart from a position between the changes starts from the copy
// saved there, not from the tables; a new slot forgets the copies; and
// Discard returns to the last commit.
func TestFollowAppliesChangesAtTheirPlace(t *testing.T) {
	t.Parallel()
	db, dsn := openDB(t, Options{})
	ctx := context.Background()
	exec(t, db, `CREATE TABLE public.users (id bigint PRIMARY KEY, email text)`)
	opts := cdc.SetupOptions{Slot: "follow_test", Publication: "follow_test", Tables: db.SubscriptionTables()}
	start, created, err := cdc.PrepareSlot(ctx, dsn, opts)
	if err != nil || !created {
		t.Fatalf("PrepareSlot = %v, %t, %v", start, created, err)
	}
	since, err := db.SaveFollowCopy(ctx, opts.Slot)
	if err != nil || since < start {
		t.Fatalf("SaveFollowCopy = %s, %v; want a position at or past the slot's start %s", since, err, start)
	}
	if err := db.StartFollowing(ctx, opts.Slot, start, true, start); err != nil {
		t.Fatalf("StartFollowing: %v", err)
	}

	steps := []string{
		`BEGIN;
INSERT INTO {{schema}}.subscribers (name, table_name, target_url) VALUES ('crm', 'public.users', 'https://a.example.com/');
INSERT INTO {{schema}}.subscriptions (subscriber_id, event_name) SELECT id, e FROM {{schema}}.subscribers, unnest(ARRAY['created', 'updated']) e;
COMMIT`,
		// A projection large enough to be stored out of line (TOAST).
		`UPDATE {{schema}}.subscribers SET target_url = 'https://b.example.com/',
    projection = (SELECT json_object_agg('k' || md5(i::text), 'email') FROM generate_series(1, 300) i)`,
		`UPDATE {{schema}}.subscribers SET description = 'projection not resent'`,
		`UPDATE {{schema}}.subscriptions SET is_active = false WHERE event_name = 'created'`,
		`DELETE FROM {{schema}}.subscribers`,
	}
	for _, s := range steps {
		exec(t, db, s)
	}
	if got := followState(ctx, db); got != "crm/created=on https://a.example.com/ all; crm/updated=on https://a.example.com/ all" &&
		got != "none" {
		// Before the stream: the copy at the slot's creation (empty) or,
		// if the slot saw the tables later, their latest state.
		t.Logf("before the stream: %s", got)
	}

	want := []string{
		"crm/created=on https://a.example.com/ all; crm/updated=on https://a.example.com/ all",
		"crm/created=on https://b.example.com/ email; crm/updated=on https://b.example.com/ email",
		"crm/created=on https://b.example.com/ email; crm/updated=on https://b.example.com/ email",
		"crm/created=off https://b.example.com/ email; crm/updated=on https://b.example.com/ email",
		"none",
	}
	h := streamFollow(t, db, dsn, opts, start, len(want))
	for i := range want {
		if h.seen[i] != want[i] {
			t.Errorf("after transaction %d: %s\nwant %s", i+1, h.seen[i], want[i])
		}
	}
	var toast bool
	for _, c := range h.changes {
		for _, v := range c.New {
			if _, ok := v.(cdc.Unchanged); ok {
				toast = true
			}
		}
	}
	if !toast {
		t.Error("no change carried an unchanged TOAST value; the test no longer covers that path")
	}

	// A restart whose slot stands after transaction 2 starts from the copy
	// saved there, although the tables are empty by now.
	if err := db.StartFollowing(ctx, opts.Slot, h.ends[1], false, 0); err != nil {
		t.Fatalf("StartFollowing at %s: %v", h.ends[1], err)
	}
	if got := followState(ctx, db); got != want[1] {
		t.Errorf("restart after transaction 2: %s\nwant %s", got, want[1])
	}
	// A change applied and then abandoned is undone by Discard.
	var deactivate *cdc.Change
	for _, c := range h.changes {
		if c.Relation.Name == "subscriptions" && c.Kind == cdc.Update {
			deactivate = c
		}
	}
	db.Apply(deactivate)
	if got := followState(ctx, db); got != want[3] {
		t.Errorf("after applying the deactivation: %s\nwant %s", got, want[3])
	}
	db.Discard()
	if got := followState(ctx, db); got != want[1] {
		t.Errorf("after Discard: %s\nwant %s", got, want[1])
	}
	// A slot created anew must not inherit copies of an earlier slot: it
	// starts from the copy SaveFollowCopy made just before it.
	now, err := db.SaveFollowCopy(ctx, opts.Slot)
	if err != nil {
		t.Fatalf("SaveFollowCopy: %v", err)
	}
	if err := db.StartFollowing(ctx, opts.Slot, now, true, now); err != nil {
		t.Fatalf("StartFollowing (new slot): %v", err)
	}
	if got := followState(ctx, db); got != "none" {
		t.Errorf("new slot: %s, want the tables' latest state (none)", got)
	}
	if n := scalar[int](t, db, `SELECT count(*) FROM {{schema}}.follow_state WHERE slot_name = $1`, opts.Slot); n != 1 {
		t.Errorf("follow_state holds %d copies for the new slot, want 1", n)
	}

	// Copies no restart can use (older than the newest at or before the
	// slot's confirmed position) are deleted as new ones are saved.
	for range 3 {
		if _, err := db.SaveFollowCopy(ctx, opts.Slot); err != nil {
			t.Fatalf("SaveFollowCopy: %v", err)
		}
		exec(t, db, `SELECT pg_logical_emit_message(true, 'test', 'move the WAL on')`)
		if _, err := db.pool.Exec(ctx, `SELECT pg_replication_slot_advance($1, pg_current_wal_lsn())`, opts.Slot); err != nil {
			t.Fatalf("advance slot: %v", err)
		}
	}
	exec(t, db, `SELECT pg_logical_emit_message(true, 'test', 'move the WAL on')`)
	last, err := db.SaveFollowCopy(ctx, opts.Slot)
	if err != nil {
		t.Fatalf("SaveFollowCopy: %v", err)
	}
	// Left: at most one copy at or before the slot's confirmed position
	// (the newest), and those after it. How far the position moved is up
	// to the server (pg_replication_slot_advance), so only that is fixed.
	kept := scalar[int](t, db, `SELECT count(*) FROM {{schema}}.follow_state WHERE slot_name = $1 AND lsn <= (
    SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1)`, opts.Slot)
	if kept > 1 {
		t.Errorf("%d copies at or before the slot's position are kept; only the newest can ever be used", kept)
	}
	if n := scalar[int](t, db, `SELECT count(*) FROM {{schema}}.follow_state WHERE slot_name = $1 AND lsn = $2::pg_lsn`,
		opts.Slot, last.String()); n != 1 {
		t.Errorf("the last copy (at %s) is missing", last)
	}
}

// streamFollow streams the slot from start until n commits were handled.
func streamFollow(t *testing.T, db *DB, dsn string, opts cdc.SetupOptions, start cdc.LSN, n int) *followHandler {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := &followHandler{db: db, t: t, want: n, cancel: cancel}
	// The slot is never acknowledged past start, so that every copy saved
	// on the way is kept for the restarts the test makes.
	s := cdc.NewStream(cdc.StreamOptions{DSN: dsn, Slot: opts.Slot, Publication: opts.Publication, Start: start,
		Settled: func(cdc.LSN) cdc.LSN { return start }})
	if err := s.Run(ctx, h); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if len(h.seen) < n {
		t.Fatalf("stream ended after %d of %d transactions", len(h.seen), n)
	}
	return h
}

// TestSavedCopyKeepsProjectionOrder: a projection keeps its field order
// through a saved copy (the payload's field order depends on it).
func TestSavedCopyKeepsProjectionOrder(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	ctx := context.Background()
	exec(t, db, `INSERT INTO {{schema}}.subscribers (name, table_name, target_url, projection)
VALUES ('crm', 'public.users', 'https://a.example.com/', '{"zeta": "id", "alpha": {"const": "x"}, "mid": "email"}')`)
	at, err := db.SaveFollowCopy(ctx, "order_test")
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := db.loadSaved(ctx, "order_test", at)
	if err != nil || m == nil {
		t.Fatalf("loadSaved = %v, %v", m, err)
	}
	for _, s := range m.subscribers {
		if got := string(s.projection); got != `{"zeta":"id","alpha":{"const":"x"},"mid":"email"}` {
			t.Errorf("saved projection %s: field order changed", got)
		}
	}
}
