package router

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/config"
)

const conditionalYAML = `
source:
  dsn: postgres://localhost/app
events:
  - name: email_updated
    table: public.users
    on: updated
    when_changed: [email]
  - name: profile_updated
    table: public.users
    on: updated
    ignore_changed: [bio]
  - name: renamed_to_bob
    table: public.users
    on: updated
    where:
      name: {changed_to: Bob}
  - name: left_bob
    table: public.users
    on: updated
    where:
      name: {changed_from: Bob}
  - name: was_ada
    table: public.users
    on: updated
    where:
      name: {was: Ada}
  - name: bob_created
    table: public.users
    on: created
    where:
      name: Bob
      email: {not_null: true}
  - name: bob_deleted
    table: public.users
    on: deleted
    where:
      name: Bob
subscribers:
  - name: hooks
    table: public.users
    target_url: https://hooks.example.com/in
    subscriptions:
      - event: email_updated
      - event: profile_updated
      - event: renamed_to_bob
      - event: left_bob
      - event: was_ada
      - event: bob_created
      - event: bob_deleted
`

func TestConditionalEvents(t *testing.T) {
	t.Parallel()
	full := func(old, new cdc.Row) *cdc.Change { return update(usersFull, old, new) }
	cases := []struct {
		name   string
		change *cdc.Change
		want   []string
	}{
		{"email changed", full(cdc.Row{int64(1), "Ada", "a@x", "b"}, cdc.Row{int64(1), "Ada", "new@x", "b"}),
			[]string{"email_updated", "profile_updated", "was_ada"}},
		{"only bio changed", full(cdc.Row{int64(1), "Cy", "a@x", "b"}, cdc.Row{int64(1), "Cy", "a@x", "b2"}), nil},
		{"nothing changed", full(cdc.Row{int64(1), "Cy", "a@x", "b"}, cdc.Row{int64(1), "Cy", "a@x", "b"}), nil},
		{"email unchanged TOAST", full(cdc.Row{int64(1), "Cy", "a@x", "b"}, cdc.Row{int64(1), "Cy", cdc.Unchanged{}, "b"}), nil},
		{"renamed to Bob", full(cdc.Row{int64(1), "Ada", "a@x", "b"}, cdc.Row{int64(1), "Bob", "a@x", "b"}),
			[]string{"profile_updated", "renamed_to_bob", "was_ada"}},
		{"Bob stays Bob", full(cdc.Row{int64(1), "Bob", "a@x", "b"}, cdc.Row{int64(1), "Bob", "a@x", "c"}), nil},
		{"Bob renamed", full(cdc.Row{int64(1), "Bob", "a@x", "b"}, cdc.Row{int64(1), "Rob", "a@x", "b"}),
			[]string{"profile_updated", "left_bob"}},
		{"Bob created", insert(users, int64(1), "Bob", "b@x", nil), []string{"bob_created"}},
		{"Bob created without email", insert(users, int64(1), "Bob", nil, nil), nil},
		{"Ada created", insert(users, int64(1), "Ada", "a@x", nil), nil},
		{"Bob deleted", del(usersFull, cdc.Row{int64(1), "Bob", "b@x", nil}), []string{"bob_deleted"}},
		{"Ada deleted", del(usersFull, cdc.Row{int64(1), "Ada", "b@x", nil}), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, conditionalYAML, nil)
			h.tx(t, 0x100, tc.change)
			var got []string
			for _, ev := range h.sub.got() {
				got = append(got, ev.Name)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("events %v, want %v", got, tc.want)
			}
			if f := h.rec.got(); len(f) != 0 {
				t.Errorf("unexpected failures: %v", f)
			}
		})
	}
}

// Without REPLICA IDENTITY FULL an event that needs old values never
// misfires: each of its subscriptions gets a failed event saying why, the
// built-in event is still delivered and the transaction is sealed.
func TestConditionalEventNeedsOldValues(t *testing.T) {
	t.Parallel()
	h := newHarness(t, conditionalYAML, func(o *Options) {
		o.Source = staticOf(append([]*Subscription{testSub("public.users", EventUpdated, nil)},
			mustStatic(t, conditionalYAML).All()...)...)
	})
	h.tx(t, 0x100, update(users, nil, cdc.Row{int64(1), "Bob", "new@x", nil}), del(users, cdc.Row{int64(1), nil, nil, nil}))
	evs := h.sub.got()
	if len(evs) != 1 || evs[0].Name != EventUpdated {
		t.Fatalf("events %v, want only updated", ids(evs))
	}
	fails := h.rec.got()
	wantFailed := map[string]bool{"email_updated": true, "profile_updated": true, "renamed_to_bob": true, "left_bob": true, "was_ada": true, "bob_deleted": true}
	if len(fails) != len(wantFailed) {
		t.Fatalf("%d failures, want %d: %v", len(fails), len(wantFailed), fails)
	}
	for _, f := range fails {
		if !wantFailed[f.Event.Name] || f.Number != 0 ||
			!strings.Contains(f.Error, "needs the old values of public.users") || !strings.Contains(f.Error, "REPLICA IDENTITY FULL") {
			t.Errorf("failure %s: %q", f.Event.Name, f.Error)
		}
	}
	if x := h.tracker.txns[0]; x.adds != 1 || x.sealedAt == 0 {
		t.Errorf("txn: %d adds, sealed at %s", x.adds, x.sealedAt)
	}
}

func mustStatic(t testing.TB, yaml string) *Static {
	t.Helper()
	s, err := StaticSource(mustConfig(t, yaml))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNeedsOldValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ev   config.Event
		want bool
	}{
		{config.Event{On: "updated", WhenChanged: []string{"email"}}, true},
		{config.Event{On: "updated", IgnoreChanged: []string{"bio"}}, true},
		{config.Event{On: "updated", Where: []config.Condition{{Column: "s", Op: "changed_to"}}}, true},
		{config.Event{On: "updated", Where: []config.Condition{{Column: "s", Op: "eq", Old: true}}}, true},
		{config.Event{On: "updated", Where: []config.Condition{{Column: "s", Op: "eq"}}}, false},
		{config.Event{On: "created", Where: []config.Condition{{Column: "s", Op: "eq"}}}, false},
		{config.Event{On: "deleted", Where: []config.Condition{{Column: "s", Op: "eq"}}}, true},
		{config.Event{On: "deleted"}, false},
		{config.Event{}, false},
	}
	for _, tc := range cases {
		if got := NeedsOldValues(tc.ev); got != tc.want {
			t.Errorf("NeedsOldValues(%+v) = %v, want %v", tc.ev, got, tc.want)
		}
	}
}

func TestValueMatches(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	yes := [][2]any{
		{int64(3), 3}, {int64(3), int64(3)}, {json.Number("3.0"), 3}, {json.Number("2.5"), 2.5}, {2.5, json.Number("2.50")},
		{"paid", "paid"}, {true, true}, {at, "2026-01-01T00:00:00Z"}, {nil, nil},
		{json.Number("12345678901234567890"), "12345678901234567890"},
		{[]any{int64(1)}, []any{1}},
	}
	for _, p := range yes {
		if !valueMatches(p[0], p[1]) {
			t.Errorf("valueMatches(%#v, %#v) = false", p[0], p[1])
		}
	}
	no := [][2]any{{int64(3), 4}, {"3", 3}, {"paid", "Paid"}, {nil, "x"}, {"x", nil}, {true, "true"}, {at, "2026-01-02T00:00:00Z"}}
	for _, p := range no {
		if valueMatches(p[0], p[1]) {
			t.Errorf("valueMatches(%#v, %#v) = true", p[0], p[1])
		}
	}
}

func TestCompileEventRefusesUnknown(t *testing.T) {
	t.Parallel()
	_, err := New(Options{Source: staticOf(), Submitter: &fakeSubmitter{}, Tracker: newRecTracker(),
		Events: []config.Event{{Name: "x", Table: "public.users", On: "upserted", Line: 3}}})
	if err == nil || !strings.Contains(err.Error(), `on "upserted"`) {
		t.Errorf("New = %v, want an error about on", err)
	}
	_, err = New(Options{Source: staticOf(), Submitter: &fakeSubmitter{}, Tracker: newRecTracker(),
		Events: []config.Event{{Name: "x", Table: "public.users", On: "updated", Where: []config.Condition{{Column: "a", Op: "like"}}}}})
	if err == nil || !strings.Contains(err.Error(), `unknown op "like"`) {
		t.Errorf("New = %v, want an error about the op", err)
	}
}
