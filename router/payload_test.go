package router

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/config"
	"github.com/walhook/walhook/deliver"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files under testdata/")

// staticOf is a Static Source over the given subscriptions.
func staticOf(subs ...*Subscription) *Static {
	s := &Static{subs: map[lookupKey][]*Subscription{}}
	for _, sub := range subs {
		k := lookupKey{sub.Table, sub.Event}
		s.subs[k] = append(s.subs[k], sub)
		s.all = append(s.all, sub)
	}
	return s
}

func testSub(table, event string, p *Projection) *Subscription {
	return &Subscription{
		Key: "crm/" + event, Subscriber: "crm", Table: table, Event: event, Active: true,
		Endpoint: &deliver.Endpoint{Subscriber: "crm", URL: "https://api.example.com/webhooks"}, Projection: p,
	}
}

func mustCompile(t testing.TB, p *config.Projection) *Projection {
	t.Helper()
	cp, err := Compile(p)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return cp
}

func list(cols ...string) *config.Projection {
	p := &config.Projection{}
	for _, c := range cols {
		p.Fields = append(p.Fields, config.Field{Key: c, Column: c})
	}
	return p
}

// types is a table with one column of each value kind cdc produces.
var types = &cdc.Relation{Schema: "public", Name: "types", ReplicaIdentity: 'd', Columns: []cdc.Column{
	{Name: "id", Key: true}, {Name: "small"}, {Name: "price"}, {Name: "big"}, {Name: "ratio"}, {Name: "nan"},
	{Name: "ok"}, {Name: "doc"}, {Name: "raw"}, {Name: "at"}, {Name: "day"}, {Name: "tags"},
	{Name: "note"}, {Name: "nothing"},
}}

func TestPayloadGolden(t *testing.T) {
	t.Parallel()
	byMap := &config.Projection{Fields: []config.Field{
		{Key: "user_id", Column: "id"},
		{Key: "contact", Nested: &config.Projection{Fields: []config.Field{
			{Key: "email", Column: "email"}, {Key: "name", Column: "name"},
		}}},
		{Key: "source", Const: map[string]any{"system": "crm", "version": 2}, HasConst: true},
	}}
	cases := []struct {
		name   string
		event  string
		proj   *config.Projection
		change *cdc.Change
		table  string
	}{
		{"created", EventCreated, list("id", "name", "email"),
			insert(users, int64(7), "Ada", "ada@example.com", "long bio"), "public.users"},
		{"updated_full", EventUpdated, list("id", "name", "email"),
			update(usersFull, cdc.Row{int64(7), "Ada", "old@example.com", "bio"}, cdc.Row{int64(7), "Ada", "new@example.com", "bio"}), "public.users"},
		{"updated_default_identity", EventUpdated, list("id", "email"),
			update(users, nil, cdc.Row{int64(7), "Ada", "new@example.com", "bio"}), "public.users"},
		{"updated_unchanged_toast", EventUpdated, nil,
			update(users, nil, cdc.Row{int64(7), "Ada", "new@example.com", cdc.Unchanged{}}), "public.users"},
		{"updated_unchanged_toast_full", EventUpdated, nil,
			update(usersFull, cdc.Row{int64(7), "Ada", "old@example.com", "long bio"}, cdc.Row{int64(7), "Ada", "new@example.com", cdc.Unchanged{}}), "public.users"},
		{"deleted_key", EventDeleted, byMap,
			del(users, cdc.Row{int64(7), nil, nil, nil}), "public.users"},
		{"deleted_full", EventDeleted, list("id", "name", "email"),
			del(usersFull, cdc.Row{int64(7), "Ada", "ada@example.com", "bio"}), "public.users"},
		{"created_nested_const", EventCreated, byMap,
			insert(users, int64(7), "Ada", "ada@example.com", "bio"), "public.users"},
		{"created_types", EventCreated, nil, insert(types,
			int64(1), int64(-3), json.Number("12.50"), "123456789012345678901234567890.123", 0.000001234, math.NaN(),
			true, json.RawMessage(`{"a": [1, 2]}`), []byte{0xde, 0xad, 0xbe, 0xef},
			time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), "2026-01-02", []any{int64(1), "two", nil},
			"quote \" back \\ nl \n tab \t ctl \x01 uni é \u2028", nil), "public.types"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sub := testSub(tc.table, tc.event, mustCompile(t, tc.proj))
			h := newHarness(t, minimalYAML, func(o *Options) { o.Source = staticOf(sub) })
			h.tx(t, 0x16B6C50, tc.change)
			evs := h.sub.got()
			if len(evs) != 1 {
				t.Fatalf("got %d events, want 1 (failures: %v)", len(evs), h.rec.got())
			}
			golden(t, tc.name, evs[0].Body)
		})
	}
}

// golden compares got with testdata/<name>.json, rewriting it under
// -update. It also checks that got is valid JSON.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	if !json.Valid(got) {
		t.Fatalf("payload is not valid JSON: %s", got)
	}
	path := filepath.Join("testdata", name+".json")
	if *updateGolden {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./router -update to create it): %v", err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Errorf("payload differs from %s\n got: %s\nwant: %s", path, got, want)
	}
}

// minimalYAML is a valid configuration with no subscribers.
const minimalYAML = `
source:
  dsn: postgres://localhost/app
`
