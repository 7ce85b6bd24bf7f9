package router

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/deliver"
)

// A second Router on the same registry (a new leadership term) shares
// the first one's counters instead of failing.
func TestNewTwiceOnOneRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	for i := 0; i < 2; i++ {
		h := newHarness(t, twoSubscribersYAML, func(o *Options) { o.Registerer = reg })
		h.tx(t, 0x100, insert(users, int64(1), "a", "a@x", nil))
	}
	if got := submittedCount(t, reg); got != 4 {
		t.Errorf("submitted counter = %v, want 4", got)
	}
}

func submittedCount(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "walhook_router_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == "submitted" {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatal("no submitted counter")
	return 0
}

func TestNewRequiresParts(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{}); err == nil || !strings.Contains(err.Error(), "required") {
		t.Fatalf("New(Options{}) = %v, want an error naming what is required", err)
	}
}

// Every submitted event is counted before it is handed over and settles
// its transaction's Txn; transactions without events are sealed too.
func TestRouterSettlement(t *testing.T) {
	t.Parallel()
	h := newHarness(t, twoSubscribersYAML, nil)
	h.tx(t, 0x100, insert(users, int64(1), "a", "a@x", nil), update(users, nil, cdc.Row{int64(1), "b", "a@x", nil}))
	h.tx(t, 0x200, insert(orders, int64(9), int64(1)))
	h.tx(t, 0x300)
	if len(h.tracker.txns) != 3 {
		t.Fatalf("opened %d transactions, want 3", len(h.tracker.txns))
	}
	first := h.tracker.txns[0]
	if first.adds != 3 || first.sealedAt != 0x108 {
		t.Errorf("first txn: %d adds, sealed at %s; want 3 adds sealed at 0/108", first.adds, first.sealedAt)
	}
	for _, x := range h.tracker.txns[1:] {
		if x.adds != 0 || x.sealedAt != x.commitLSN+8 {
			t.Errorf("txn %s: %d adds, sealed at %s; want none, sealed at its end", x.commitLSN, x.adds, x.sealedAt)
		}
	}
	for _, ev := range h.sub.got() {
		ev.Settle()
	}
	if first.done != 3 {
		t.Errorf("Settle called Done %d times, want 3", first.done)
	}
}

// With the real cdc.Tracker the flush position passes a transaction only
// when its events are settled, and passes an empty one at once.
func TestRouterWithCDCTracker(t *testing.T) {
	t.Parallel()
	tr := cdc.NewTracker(0x10)
	h := newHarness(t, twoSubscribersYAML, func(o *Options) { o.Tracker = TrackerOf(tr) })
	h.tx(t, 0x100)
	if got := tr.Settled(0); got != 0x108 {
		t.Fatalf("after an empty transaction Settled = %s, want 0/108", got)
	}
	h.tx(t, 0x200, insert(users, int64(1), "a", "a@x", nil))
	h.tx(t, 0x300, insert(orders, int64(9), int64(1)))
	if got := tr.Settled(0); got != 0x108 {
		t.Fatalf("with unsettled events Settled = %s, want 0/108", got)
	}
	evs := h.sub.got()
	evs[0].Settle()
	if got := tr.Settled(0); got != 0x108 {
		t.Fatalf("with one of two events settled Settled = %s, want 0/108", got)
	}
	evs[1].Settle()
	if got := tr.Settled(0); got != 0x308 {
		t.Fatalf("with all settled Settled = %s, want 0/308", got)
	}
}

func TestRouterRollback(t *testing.T) {
	t.Parallel()
	h := newHarness(t, twoSubscribersYAML, nil)
	ctx := context.Background()
	if err := h.r.Begin(ctx, &cdc.Begin{CommitLSN: 0x100}); err != nil {
		t.Fatal(err)
	}
	if err := h.r.Change(ctx, insert(users, int64(1), "a", "a@x", nil)); err != nil {
		t.Fatal(err)
	}
	if err := h.r.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if x := h.tracker.txns[0]; !x.discarded || x.sealedAt != 0 {
		t.Errorf("rolled back txn: discarded %v sealed at %s", x.discarded, x.sealedAt)
	}
	// The transaction comes again, whole, with the same ids.
	h.tx(t, 0x100, insert(users, int64(1), "a", "a@x", nil))
	evs := h.sub.got()
	if len(evs) != 4 || evs[0].ID != evs[2].ID || evs[1].ID != evs[3].ID {
		t.Errorf("replayed transaction ids differ: %v", ids(evs))
	}
	if err := h.r.Rollback(ctx); err != nil {
		t.Errorf("Rollback without a transaction: %v", err)
	}
}

func TestRouterProtocolErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, twoSubscribersYAML, nil)
	ctx := context.Background()
	if err := h.r.Change(ctx, insert(users, int64(1), "a", "a@x", nil)); err == nil {
		t.Error("Change outside a transaction succeeded")
	}
	if err := h.r.Commit(ctx, &cdc.Commit{}); err == nil {
		t.Error("Commit outside a transaction succeeded")
	}
	// A stream that stopped mid-transaction leaves it open: the next
	// Begin discards it.
	_ = h.r.Begin(ctx, &cdc.Begin{CommitLSN: 1})
	if err := h.r.Begin(ctx, &cdc.Begin{CommitLSN: 2}); err != nil {
		t.Errorf("Begin after an abandoned transaction: %v", err)
	}
	if x := h.tracker.txns[0]; !x.discarded {
		t.Error("abandoned transaction not discarded")
	}
}

// A Submitter or Source failure stops the stream; nothing is sealed.
func TestRouterStopsOnHandOverFailure(t *testing.T) {
	t.Parallel()
	boom := errors.New("dispatcher closed")
	h := newHarness(t, twoSubscribersYAML, func(o *Options) {
		o.Submitter = &fakeSubmitter{SubmitFunc: func(context.Context, *deliver.Event) error { return boom }}
	})
	ctx := context.Background()
	_ = h.r.Begin(ctx, &cdc.Begin{CommitLSN: 0x100})
	if err := h.r.Change(ctx, insert(users, int64(1), "a", "a@x", nil)); !errors.Is(err, boom) {
		t.Fatalf("Change = %v, want the submit error", err)
	}
	h2 := newHarness(t, twoSubscribersYAML, func(o *Options) {
		o.Source = &fakeSource{LookupFunc: func(context.Context, string, string) ([]*Subscription, error) { return nil, boom }}
	})
	_ = h2.r.Begin(ctx, &cdc.Begin{CommitLSN: 0x100})
	if err := h2.r.Change(ctx, insert(users, int64(1), "a", "a@x", nil)); !errors.Is(err, boom) || !strings.Contains(err.Error(), "look up subscriptions of public.users to created") {
		t.Fatalf("Change = %v, want the lookup error", err)
	}
}

func TestRouterInactiveDropped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, `
source:
  dsn: postgres://localhost/app
subscribers:
  - name: crm
    table: public.users
    target_url: https://crm.example.com/hooks
    subscriptions: [{event: created, is_active: false}]
`, nil)
	h.tx(t, 0x100, insert(users, int64(1), "a", "a@x", nil))
	if n := len(h.sub.got()); n != 0 {
		t.Errorf("%d events for an inactive subscription", n)
	}
	if x := h.tracker.txns[0]; x.adds != 0 || x.sealedAt == 0 {
		t.Errorf("txn: %d adds, sealed at %s", x.adds, x.sealedAt)
	}
}

// orders has a composite key (id, region).
var orders = &cdc.Relation{Schema: "public", Name: "orders", ReplicaIdentity: 'd', Columns: []cdc.Column{
	{Name: "id", Key: true}, {Name: "user_id"},
}}

var regions = &cdc.Relation{Schema: "public", Name: "regions", ReplicaIdentity: 'd', Columns: []cdc.Column{
	{Name: "code", Key: true}, {Name: "name"}, {Name: "shard", Key: true},
}}

func TestOrderKey(t *testing.T) {
	t.Parallel()
	subs := []*Subscription{testSub("public.users", EventCreated, nil), testSub("public.users", EventUpdated, nil),
		testSub("public.users", EventDeleted, nil), testSub("public.regions", EventCreated, nil)}
	h := newHarness(t, minimalYAML, func(o *Options) { o.Source = staticOf(subs...) })
	h.tx(t, 0x100,
		insert(users, int64(1), "a", "a@x", nil),
		update(users, cdc.Row{int64(1), nil, nil, nil}, cdc.Row{int64(2), "a", "a@x", nil}), // key changed: new key
		del(users, cdc.Row{int64(2), nil, nil, nil}),
		insert(regions, "eu", "Europe", int64(3)),
		update(&cdc.Relation{Schema: "public", Name: "users", Columns: []cdc.Column{{Name: "id", Key: true}}}, cdc.Row{"k"}, cdc.Row{cdc.Unchanged{}}),
	)
	want := []string{`1`, `2`, `2`, `["eu",3]`, `"k"`}
	evs := h.sub.got()
	if len(evs) != len(want) {
		t.Fatalf("got %d events, want %d", len(evs), len(want))
	}
	for i, ev := range evs {
		if ev.OrderKey != want[i] {
			t.Errorf("event %d (%s): OrderKey %q, want %q", i, ev.Name, ev.OrderKey, want[i])
		}
	}
}

func TestDisabledIsPermanentSkip(t *testing.T) {
	t.Parallel()
	h := newHarness(t, twoSubscribersYAML+"disabled: true\n", nil)
	h.tx(t, 0x100, insert(users, int64(1), "a", "a@x", nil))
	if n := len(h.sub.got()); n != 0 || !h.r.Disabled() {
		t.Errorf("disabled router submitted %d events (Disabled() = %v)", n, h.r.Disabled())
	}
	if x := h.tracker.txns[0]; x.sealedAt == 0 {
		t.Error("transaction not sealed")
	}
}

func ids(evs []*deliver.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}
