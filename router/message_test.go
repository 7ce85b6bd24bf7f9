package router

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/deliver"
)

const customYAML = `
source:
  dsn: postgres://localhost/app
tables:
  public.users:
    fields: [id, name, email]
events:
  - name: paid
    table: public.users
subscribers:
  - name: billing
    table: public.users
    target_url: https://billing.example.com/in
    subscriptions: [{event: created}, {event: paid}]
`

// A skip message silences the rest of its transaction only; the
// transaction is still sealed and the next one is routed.
func TestSkipMessage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, customYAML, nil)
	h.tx(t, 0x100, insert(users, int64(1), "a", "a@x", nil), message(" skip\n"),
		insert(users, int64(2), "b", "b@x", nil), message(`{"event":"paid","table":"public.users","key":{"id":2}}`))
	h.tx(t, 0x200, insert(users, int64(3), "c", "c@x", nil))
	evs := h.sub.got()
	if len(evs) != 2 || !strings.Contains(string(evs[0].Body), `"id":1`) || !strings.Contains(string(evs[1].Body), `"id":3`) {
		t.Fatalf("events %s", bodies(evs))
	}
	for _, x := range h.tracker.txns {
		if x.sealedAt == 0 {
			t.Errorf("txn %s not sealed", x.commitLSN)
		}
	}
}

func TestCustomEventData(t *testing.T) {
	t.Parallel()
	reads := 0
	rows := &fakeRows{ReadRowFunc: func(_ context.Context, table string, key map[string]any) (map[string]any, bool, error) {
		reads++
		if table != "public.users" {
			return nil, false, errors.New("unexpected table " + table)
		}
		switch key["id"] {
		case json.Number("5"):
			return map[string]any{"email": "e@x", "id": json.Number("5"), "name": "Eve", "bio": "x"}, true, nil
		case json.Number("6"):
			return nil, false, errors.New("connection refused")
		}
		return nil, false, nil
	}}
	h := newHarness(t, customYAML, func(o *Options) { o.Rows = rows })
	h.tx(t, 0x100,
		insert(users, int64(4), "Dan", "d@x", nil),
		update(users, nil, cdc.Row{int64(4), "Dan", "dan@x", nil}),
		message(`{"event":"paid","table":"public.users","key":{"id":4},"context":{"payment_method": "stripe"}}`),
		message(`{"event":"paid","table":"public.users","key":{"id":5}}`),
		message(`{"event":"paid","table":"public.users","key":{"id":7},"data":{"id":7,"note":"given"}}`),
		message(`{"event":"paid","table":"public.users","key":{"id":8}}`),
		message(`{"event":"paid","table":"public.users","key":{"id":6}}`),
	)
	evs := h.sub.got()
	want := []string{
		`"event":"created"`,
		`"event":"paid","table":"public.users","occurred_at":"2026-11-29T03:00:00.123456Z","lsn":"0/100","data":{"id":4,"name":"Dan","email":"dan@x"},"context":{"payment_method":"stripe"}}`,
		`"data":{"id":5,"name":"Eve","email":"e@x"}}`,
		`"data":{"id":7,"note":"given"}}`,
	}
	if len(evs) != len(want) {
		t.Fatalf("got %d events, want %d: %s", len(evs), len(want), bodies(evs))
	}
	for i, w := range want {
		if !strings.Contains(string(evs[i].Body), w) {
			t.Errorf("event %d: %s\nwant it to contain %s", i, evs[i].Body, w)
		}
	}
	golden(t, "custom_paid", evs[1].Body)
	if evs[1].ID != EventID(0x100, 2, "billing/paid") || evs[1].OrderKey != "4" || evs[2].OrderKey != "5" {
		t.Errorf("paid event id %s order keys %q %q", evs[1].ID, evs[1].OrderKey, evs[2].OrderKey)
	}
	if reads != 4 {
		t.Errorf("%d row reads, want 4 (not for the row changed in the transaction)", reads)
	}
	fails := h.rec.got()
	if len(fails) != 2 || !strings.Contains(fails[0].Error, "no row of public.users with key 8") ||
		!strings.Contains(fails[1].Error, "connection refused") {
		t.Errorf("failures: %+v", fails)
	}
}

// Bad messages are logged and counted; the stream goes on.
func TestBadMessages(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, content, want string }{
		{"not json", `hello`, "parse walhook message"},
		{"unknown field", `{"event":"paid","table":"public.users","key":{"id":1},"contxt":{}}`, `unknown field "contxt"`},
		{"no table", `{"event":"paid","key":{"id":1}}`, `"event" and "table" are required`},
		{"no key", `{"event":"paid","table":"public.users"}`, `give the row's "key"`},
		{"context not object", `{"event":"paid","table":"public.users","key":{"id":1},"context":[1]}`, "must be a JSON object"},
		{"trailing", `{"event":"paid","table":"public.users","key":{"id":1}} {}`, "text after the JSON object"},
		{"unknown event", `{"event":"payed","table":"public.users","key":{"id":1}}`, `unknown event "payed" for public.users`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var err error
			if m, perr := parseMessage([]byte(tc.content)); perr != nil {
				err = perr
			} else if !newHarness(t, customYAML, nil).r.knownEvent(m.Table, m.Event) {
				err = unknownEvent(m.Table, m.Event)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			h := newHarness(t, customYAML, nil)
			h.tx(t, 0x100, message(tc.content), insert(users, int64(1), "a", "a@x", nil))
			if evs := h.sub.got(); len(evs) != 1 || evs[0].Name != EventCreated {
				t.Errorf("events after a bad message: %s", bodies(evs))
			}
		})
	}
}

func TestOtherMessagesIgnored(t *testing.T) {
	t.Parallel()
	h := newHarness(t, customYAML, nil)
	other := message(`skip`)
	other.Prefix = "someone-else"
	h.tx(t, 0x100, other, message("heartbeat"), insert(users, int64(1), "a", "a@x", nil))
	if evs := h.sub.got(); len(evs) != 1 {
		t.Errorf("events: %s", bodies(evs))
	}
}

// The recent-rows memory keeps the newest keys of a huge transaction.
func TestRecentRowsBounded(t *testing.T) {
	t.Parallel()
	var r recentRows
	for i := 0; i < 3*recentRowsLimit; i++ {
		r.put(string(rune(i)), rowRef{})
	}
	if len(r.cur)+len(r.prev) > 2*recentRowsLimit {
		t.Errorf("holds %d rows, limit %d", len(r.cur)+len(r.prev), 2*recentRowsLimit)
	}
	if _, ok := r.get(string(rune(3*recentRowsLimit - 1))); !ok {
		t.Error("newest row forgotten")
	}
	if _, ok := r.get(string(rune(0))); ok {
		t.Error("oldest row kept")
	}
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, `
source:
  dsn: postgres://localhost/app
subscribers:
  - name: crm
    table: public.users
    target_url: https://crm.example.com/hooks
    subscriptions: [{event: truncated}]
`, nil)
	h.tx(t, 0x100, &cdc.Change{Kind: cdc.Truncate, Relations: []*cdc.Relation{users, orders}})
	evs := h.sub.got()
	if len(evs) != 1 {
		t.Fatalf("got %d events, want 1", len(evs))
	}
	golden(t, "truncated", evs[0].Body)
	if evs[0].OrderKey != "" {
		t.Errorf("OrderKey %q, want none", evs[0].OrderKey)
	}
}

func bodies(evs []*deliver.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.Write(ev.Body)
		b.WriteByte('\n')
	}
	return b.String()
}

// parseMessage never panics and either accepts a message with an event, a
// table and a key or data, or says why not.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{`{"event":"paid","table":"public.orders","key":{"id":456},"context":{"a":1}}`,
		`{"event":"paid","table":"t","data":{"x":[1,2]}}`, `skip`, `{}`, `{"context":"x"}`, `[]`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if err != nil {
			if !strings.Contains(err.Error(), "walhook message") {
				t.Fatalf("error %q does not name what it checked", err)
			}
			return
		}
		if m.Event == "" || m.Table == "" || len(m.Key) == 0 && isNull(m.Data) {
			t.Fatalf("accepted %q as %+v", b, m)
		}
		if m.Context != nil && !json.Valid(m.Context) {
			t.Fatalf("context %q is not JSON", m.Context)
		}
	})
}
