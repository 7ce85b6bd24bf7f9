package main

import (
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgtest"
)

// volatile matches the payload keys that differ between runs: the event id,
// the commit time and the commit LSN.
var volatile = regexp.MustCompile(`^\{"id":"[^"]*",|,"(occurred_at|lsn)":"[^"]*"`)

// stable is an event as path plus its body without id, occurred_at and lsn,
// keeping every other byte (key order included).
func stable(e gotEvent) string {
	return e.Path + " " + volatile.ReplaceAllStringFunc(string(e.Body), func(m string) string {
		if m[0] == '{' {
			return "{"
		}
		return ""
	})
}

// stableSorted returns stable views of evs, sorted.
func stableSorted(evs []gotEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = stable(e)
	}
	sort.Strings(out)
	return out
}

// expectExactly waits for len(want) events, lets the slot pass everything
// written so far, and compares the stable views of all events received
// with want (in any order).
func expectExactly(t *testing.T, s *sink, dsn, slot string, want ...string) []gotEvent {
	t.Helper()
	s.waitFor(len(want), 60*time.Second)
	waitSettled(t, dsn, slot)
	evs := s.snapshot()
	if bad := s.badRequests(); len(bad) > 0 {
		t.Fatalf("bad requests: %v", bad)
	}
	got := stableSorted(evs)
	w := append([]string(nil), want...)
	sort.Strings(w)
	if strings.Join(got, "\n") != strings.Join(w, "\n") {
		t.Fatalf("events differ\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(w, "\n  "))
	}
	return evs
}

// TestDeletedAndTruncatedEvents deletes from a table with the default
// replica identity (data is the projected key) and from one with REPLICA
// IDENTITY FULL (data is the projected old row), then truncates: only the
// subscriber that asked for truncated gets it.
func TestDeletedAndTruncatedEvents(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, `
CREATE TABLE public.users (id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL, secret text);
ALTER TABLE public.users REPLICA IDENTITY FULL;
CREATE TABLE public.orders (id bigint PRIMARY KEY, status text NOT NULL, total numeric(10,2));
`)
	s := newSink(t)
	cfg := testConfig(t, `
source: {dsn: "${DSN}"}
delivery: {allow_networks: [127.0.0.0/8]}
tables:
  public.users: {fields: [id, name, email]}
subscribers:
  - name: users
    table: public.users
    target_url: ${URL}/users
    secret: ${SECRET}
    subscriptions: [{event: deleted}]
  - name: orders truncating
    table: public.orders
    target_url: ${URL}/orders
    secret: ${SECRET}
    fields: {order_id: id, state: {status: status}, source: {const: shop}}
    subscriptions: [{event: deleted}, {event: truncated}]
  - name: orders plain
    table: public.orders
    target_url: ${URL}/plain
    secret: ${SECRET}
    subscriptions: [{event: created}]
`, dsn, s.srv.URL)
	startPipeline(t, cfg)
	waitSlot(t, dsn, cfg.Source.Slot)

	execSQL(t, dsn,
		`INSERT INTO users VALUES (1, 'Ada', 'ada@example.com', 's1')`,
		`INSERT INTO orders VALUES (10, 'pending', 9.99), (11, 'paid', 5)`,
		`DELETE FROM users WHERE id = 1`,
		`DELETE FROM orders WHERE id = 10`,
		`TRUNCATE orders`,
		`INSERT INTO orders VALUES (12, 'marker', 1)`,
	)
	expectExactly(t, s, dsn, cfg.Source.Slot,
		`/users {"event":"deleted","table":"public.users","data":{"id":1,"name":"Ada","email":"ada@example.com"}}`,
		`/orders {"event":"deleted","table":"public.orders","data":{"order_id":10,"source":"shop"}}`,
		`/orders {"event":"truncated","table":"public.orders"}`,
		`/plain {"event":"created","table":"public.orders","data":{"id":10,"status":"pending","total":9.99}}`,
		`/plain {"event":"created","table":"public.orders","data":{"id":11,"status":"paid","total":5.00}}`,
		`/plain {"event":"created","table":"public.orders","data":{"id":12,"status":"marker","total":1.00}}`,
	)
}
