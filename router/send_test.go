package router

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/walhook/walhook/cdc"
)

func sendHarness(t *testing.T, edit func(*Options)) *harness {
	rows := &fakeRows{ReadRowFunc: func(_ context.Context, table string, key map[string]any) (map[string]any, bool, error) {
		if key["id"] == json.Number("456") || key["id"] == int64(456) {
			return map[string]any{"id": int64(456), "name": "Ann", "email": "ann@x", "bio": "b"}, true, nil
		}
		return nil, false, nil
	}}
	return newHarness(t, customYAML, func(o *Options) {
		o.Rows = rows
		o.Tables = []string{"public.users", "public.orders"}
		if edit != nil {
			edit(o)
		}
	})
}

func TestSend(t *testing.T) {
	t.Parallel()
	h := sendHarness(t, nil)
	// The stream announced the table: columns come in its order.
	h.tx(t, 0x100, update(users, nil, cdc.Row{int64(1), "x", "x@x", nil}))
	n, err := h.r.Send(context.Background(), "public.users", map[string]any{"id": json.Number("456")}, "paid", json.RawMessage(`{ "payment_method": "stripe" }`))
	if err != nil || n != 1 {
		t.Fatalf("Send = %d, %v; want 1, nil", n, err)
	}
	ev := h.sub.got()[0]
	if !strings.HasPrefix(ev.ID, "evt_m_") || ev.Settle != nil || ev.OrderKey != "456" {
		t.Errorf("event id %s settle %v order key %q", ev.ID, ev.Settle != nil, ev.OrderKey)
	}
	want := `"event":"paid","table":"public.users","occurred_at":"2026-11-29T04:00:00.000000Z","data":{"id":456,"name":"Ann","email":"ann@x"},"context":{"payment_method":"stripe"}}`
	if !strings.HasPrefix(string(ev.Body), `{"id":"`+ev.ID+`",`) || !strings.HasSuffix(string(ev.Body), want) {
		t.Errorf("body %s\nwant it to end with %s", ev.Body, want)
	}
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	key := map[string]any{"id": int64(456)}
	cases := []struct {
		name  string
		edit  func(*Options)
		table string
		key   map[string]any
		event string
		ctx   string
		want  string
	}{
		{"table not captured", nil, "public.nope", key, "paid", "", "table public.nope is not captured: choose one of public.orders, public.users"},
		{"unknown event", nil, "public.users", key, "payed", "", `unknown event "payed" for public.users`},
		{"no row", nil, "public.users", map[string]any{"id": int64(1)}, "paid", "", `no row of public.users has key {"id":1}`},
		{"no key", nil, "public.users", nil, "paid", "", "a key is required"},
		{"bad context", nil, "public.users", key, "paid", `[1]`, "context: must be a JSON object"},
		{"no subscription", nil, "public.users", key, "updated", "", "no active subscription of public.users to updated"},
		{"disabled", func(o *Options) { o.Disabled = true }, "public.users", key, "paid", "", "webhooks are disabled"},
		{"paused", func(o *Options) { o.Pause = Pause{Paused: true, Mode: PauseSkip} }, "public.users", key, "paid", "", "walhook is paused (skip mode)"},
		{"no reader", func(o *Options) { o.Rows = nil }, "public.users", key, "paid", "", "no row reader"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := sendHarness(t, tc.edit)
			n, err := h.r.Send(context.Background(), tc.table, tc.key, tc.event, json.RawMessage(tc.ctx))
			if err == nil || n != 0 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Send = %d, %v; want an error containing %q", n, err, tc.want)
			}
		})
	}
}

// Send may run beside the stream (run with -race).
func TestSendConcurrentWithStream(t *testing.T) {
	t.Parallel()
	h := sendHarness(t, nil)
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 50; i++ {
			if _, err := h.r.Send(context.Background(), "public.users", map[string]any{"id": int64(456)}, "paid", nil); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 0; i < 50; i++ {
		h.tx(t, cdcLSN(i), insert(users, int64(i), "a", "a@x", nil), message(fmt.Sprintf(`{"event":"paid","table":"public.users","key":{"id":%d}}`, i)))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(h.sub.got()); n != 150 {
		t.Errorf("%d events, want 150", n)
	}
}

func cdcLSN(i int) cdc.LSN { return cdc.LSN(0x1000 + i*0x100) }

// TestSendCompositeKeyOrder: a manual send of a row with a composite key,
// given in any order and before the stream announced the table, has the
// order key the stream gives the same row (the table's key order), so it
// queues behind that row's events.
func TestSendCompositeKeyOrder(t *testing.T) {
	t.Parallel()
	lines := &cdc.Relation{ID: 9, Schema: "public", Name: "lines", ReplicaIdentity: 'd', Columns: []cdc.Column{
		{Name: "order_id", TypeOID: 20, Key: true}, {Name: "line", TypeOID: 23, Key: true}, {Name: "qty", TypeOID: 23}}}
	rows := &fakeRows{
		ReadRowFunc: func(context.Context, string, map[string]any) (map[string]any, bool, error) {
			return map[string]any{"order_id": int64(456), "line": int64(2), "qty": int64(5)}, true, nil
		},
		Order: map[string][]string{"public.lines": {"order_id", "line", "qty"}},
	}
	h := newHarness(t, `
source: {dsn: postgres://localhost/app}
events: [{name: shipped, table: public.lines}]
subscribers:
  - name: wh
    table: public.lines
    target_url: https://wh.example.com/in
    subscriptions: [{event: created}, {event: shipped}]
`, func(o *Options) { o.Rows = rows; o.Tables = []string{"public.lines"} })
	if _, err := h.r.Send(context.Background(), "public.lines", map[string]any{"line": json.Number("2"), "order_id": json.Number("456")}, "shipped", nil); err != nil {
		t.Fatalf("Send: %v", err)
	}
	h.tx(t, 0x100, insert(lines, int64(456), int64(2), int64(5)))
	evs := h.sub.got()
	if len(evs) != 2 || evs[0].OrderKey == "" || evs[0].OrderKey != evs[1].OrderKey {
		t.Fatalf("order keys: send %q, stream %q; want equal", evs[0].OrderKey, evs[len(evs)-1].OrderKey)
	}
	if !strings.Contains(string(evs[0].Body), `"data":{"order_id":456,"line":2,"qty":5}`) {
		t.Errorf("send body %s: want the table's column order", evs[0].Body)
	}
}
