package router

import (
	"strings"
	"testing"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/config"
)

func TestProjection(t *testing.T) {
	t.Parallel()
	row := cdc.Row{int64(7), "Ada", "ada@example.com", "bio"}
	cases := []struct {
		name string
		proj *config.Projection
		v    view
		want string
	}{
		{"nil projection is every column", nil, view{row: row},
			`{"id":7,"name":"Ada","email":"ada@example.com","bio":"bio"}`},
		{"list keeps order", list("email", "id"), view{row: row},
			`{"email":"ada@example.com","id":7}`},
		{"map renames", &config.Projection{Fields: []config.Field{{Key: "user_id", Column: "id"}, {Key: "mail", Column: "email"}}},
			view{row: row}, `{"user_id":7,"mail":"ada@example.com"}`},
		{"nested", &config.Projection{Fields: []config.Field{{Key: "id", Column: "id"}, {Key: "contact", Nested: &config.Projection{
			Fields: []config.Field{{Key: "email", Column: "email"}, {Key: "who", Nested: list("name")}}}}}},
			view{row: row}, `{"id":7,"contact":{"email":"ada@example.com","who":{"name":"Ada"}}}`},
		{"const", &config.Projection{Fields: []config.Field{{Key: "v", Const: int64(2), HasConst: true}, {Key: "kind", Const: "user", HasConst: true}, {Key: "n", Const: nil, HasConst: true}}},
			view{row: row}, `{"v":2,"kind":"user","n":null}`},
		{"same column twice", &config.Projection{Fields: []config.Field{{Key: "a", Column: "id"}, {Key: "b", Column: "id"}}},
			view{row: row}, `{"a":7,"b":7}`},
		{"key-only view keeps key columns", list("id", "email"), view{row: cdc.Row{int64(7), nil, nil, nil}, keyOnly: true},
			`{"id":7}`},
		{"unchanged left out", list("id", "bio"), view{row: cdc.Row{int64(7), "Ada", "x", cdc.Unchanged{}}},
			`{"id":7}`},
		{"unchanged filled from old", list("id", "bio"), view{row: cdc.Row{int64(7), "Ada", "x", cdc.Unchanged{}}, fill: row},
			`{"id":7,"bio":"bio"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustCompile(t, tc.proj)
			if p == nil {
				p = identity(users)
			}
			b := p.bind(users)
			if b.missing != "" {
				t.Fatalf("missing column %s", b.missing)
			}
			got, err := p.appendData(nil, b, &tc.v, nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		proj *config.Projection
		want string
	}{
		{"empty field", &config.Projection{Fields: []config.Field{{Key: "x", Line: 4}}}, `key "x" (line 4) has no column`},
		{"duplicate key", &config.Projection{Fields: []config.Field{{Key: "a", Column: "id"}, {Key: "a", Column: "email", Line: 9}}}, `key "a" appears twice (line 9)`},
		{"bad const", &config.Projection{Fields: []config.Field{{Key: "c", Const: make(chan int), HasConst: true, Line: 3}}}, `constant for key "c" (line 3)`},
		{"nested duplicate", &config.Projection{Fields: []config.Field{{Key: "n", Nested: &config.Projection{Fields: []config.Field{{Key: "a", Column: "id"}, {Key: "a", Column: "id"}}}}}}, `key "n.a" appears twice`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Compile(tc.proj)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

// A relation change (ALTER TABLE) rebinds the projection; a dropped
// projected column becomes a failed event with the reason while the
// stream goes on.
func TestProjectionFollowsRelation(t *testing.T) {
	t.Parallel()
	sub := testSub("public.users", EventCreated, mustCompile(t, list("id", "email")))
	h := newHarness(t, minimalYAML, func(o *Options) { o.Source = staticOf(sub) })
	moved := &cdc.Relation{Schema: "public", Name: "users", ReplicaIdentity: 'd', Columns: []cdc.Column{
		{Name: "email"}, {Name: "id", Key: true},
	}}
	dropped := &cdc.Relation{Schema: "public", Name: "users", ReplicaIdentity: 'd', Columns: []cdc.Column{
		{Name: "id", Key: true}, {Name: "name"},
	}}
	h.tx(t, 0x100, insert(users, int64(1), "a", "a@x", nil))
	h.tx(t, 0x200, insert(moved, "b@x", int64(2)))
	h.tx(t, 0x300, insert(dropped, int64(3), "c"), insert(users, int64(4), "d", "d@x", nil))
	evs := h.sub.got()
	if len(evs) != 3 {
		t.Fatalf("got %d events, want 3", len(evs))
	}
	for i, want := range []string{`{"id":1,"email":"a@x"}`, `{"id":2,"email":"b@x"}`, `{"id":4,"email":"d@x"}`} {
		if !strings.Contains(string(evs[i].Body), `"data":`+want) {
			t.Errorf("event %d: %s, want data %s", i, evs[i].Body, want)
		}
	}
	fails := h.rec.got()
	if len(fails) != 1 {
		t.Fatalf("got %d failure records, want 1", len(fails))
	}
	f := fails[0]
	wantErr := "column email not in public.users at LSN 0/300 (change 0)"
	if f.Number != 0 || !strings.HasPrefix(f.Error, wantErr) || f.Event.ID != EventID(0x300, 0, sub.Key) {
		t.Errorf("failure record %+v, want Number 0, Error starting %q, ID of change 0", f, wantErr)
	}
	for _, x := range h.tracker.txns {
		if x.adds != 1 || x.sealedAt == 0 {
			t.Errorf("txn %s: adds %d sealed at %s; want 1 add and sealed", x.commitLSN, x.adds, x.sealedAt)
		}
	}
}

// Subscriber fields override the table's projection.
func TestStaticSourceProjectionOverride(t *testing.T) {
	t.Parallel()
	cfg := mustConfig(t, `
source:
  dsn: postgres://localhost/app
tables:
  public.users:
    fields: [id, name, email]
subscribers:
  - name: full
    table: public.users
    target_url: https://api.example.com/hooks
    subscriptions: [{event: created}]
  - name: slim
    table: public.users
    target_url: https://api.example.com/hooks
    fields: {user: id}
    subscriptions: [{event: created}]
`)
	src, err := StaticSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, minimalYAML, func(o *Options) { o.Source = src })
	h.tx(t, 0x10, insert(users, int64(1), "Ada", "ada@x", "bio"))
	evs := h.sub.got()
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2", len(evs))
	}
	want := map[string]string{"full": `"data":{"id":1,"name":"Ada","email":"ada@x"}`, "slim": `"data":{"user":1}`}
	for _, ev := range evs {
		if !strings.Contains(string(ev.Body), want[ev.Endpoint.Subscriber]) {
			t.Errorf("%s: %s, want %s", ev.Endpoint.Subscriber, ev.Body, want[ev.Endpoint.Subscriber])
		}
	}
}
