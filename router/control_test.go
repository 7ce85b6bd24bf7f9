package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/deliver"
)

// control is walhook.control as the store creates it.
var control = &cdc.Relation{Schema: "walhook", Name: "control", ReplicaIdentity: 'f', Columns: []cdc.Column{
	{Name: "id", Key: true}, {Name: "paused"}, {Name: "mode"}, {Name: "updated_at"}, {Name: "updated_by"},
}}

func setPause(paused bool, mode string) *cdc.Change {
	return update(control, cdc.Row{int64(1), !paused, "skip", nil, ""}, cdc.Row{int64(1), paused, mode, nil, "test"})
}

// In skip mode the window's events are dropped, exactly from the control
// row's change to the next one, and every transaction is sealed.
func TestPauseSkip(t *testing.T) {
	t.Parallel()
	h := newHarness(t, twoSubscribersYAML, nil)
	h.tx(t, 0x100, insert(users, int64(1), "a", "a@x", nil), setPause(true, "skip"), insert(users, int64(2), "b", "b@x", nil))
	if st := h.r.State(); !st.Paused || st.Mode != PauseSkip {
		t.Errorf("State = %+v, want paused skip", st)
	}
	h.tx(t, 0x200, insert(users, int64(3), "c", "c@x", nil))
	h.tx(t, 0x300, insert(users, int64(4), "d", "d@x", nil), setPause(false, "skip"), insert(users, int64(5), "e", "e@x", nil))
	var keys []string
	for _, ev := range h.sub.got() {
		keys = append(keys, ev.OrderKey)
	}
	if want := "1,1,5,5"; join(keys) != want {
		t.Errorf("events for rows %s, want %s", join(keys), want)
	}
	for _, x := range h.tracker.txns {
		if x.sealedAt == 0 {
			t.Errorf("txn %s not sealed", x.commitLSN)
		}
	}
}

// In hold mode the window's events are handed to the Holder (far
// NextAttempt) before their transaction is sealed, and released at the
// resume point.
func TestPauseHold(t *testing.T) {
	t.Parallel()
	var held []deliver.Parked
	var log []string
	holder := &fakeReleaser{
		fakeHolder: fakeHolder{HoldFunc: func(_ context.Context, evs []deliver.Parked) error {
			held = append(held, evs...)
			log = append(log, "hold")
			return nil
		}},
		ReleaseHeldFunc: func(context.Context) (int64, error) { log = append(log, "release"); return int64(len(held)), nil },
	}
	rt := newRecTracker()
	sealWas := 0
	rt.SealFunc = func(x Txn, end cdc.LSN) { x.(*countTxn).sealedAt = end; sealWas = len(held); log = append(log, "seal") }
	h := newHarness(t, twoSubscribersYAML, func(o *Options) {
		o.Holder, o.Tracker = holder, rt
		o.Pause = Pause{Paused: true, Mode: PauseHold}
	})
	h.tx(t, 0x100, insert(users, int64(1), "a", "a@x", nil))
	if len(held) != 2 || sealWas != 2 {
		t.Fatalf("held %d events (%d before seal), want 2 before the seal", len(held), sealWas)
	}
	if x := rt.txns[0]; x.adds != 2 || x.done != 0 {
		t.Errorf("transaction counts %d adds, %d done; want 2 held events unsettled until the Holder settles them", x.adds, x.done)
	}
	for _, p := range held {
		if p.NextAttempt.Year() < 9999 || p.Event.Settle == nil || p.Event.Body == nil {
			t.Errorf("held event %+v: want far NextAttempt, a Settle (the Holder settles it), a body", p)
		}
	}
	h.tx(t, 0x200, insert(users, int64(2), "b", "b@x", nil), setPause(false, "hold"), insert(users, int64(3), "c", "c@x", nil))
	if len(held) != 4 || len(h.sub.got()) != 2 {
		t.Errorf("held %d, submitted %d; want 4 held and 2 submitted", len(held), len(h.sub.got()))
	}
	if want := "hold,seal,hold,release,seal"; join(log) != want {
		t.Errorf("calls %s, want %s", join(log), want)
	}
}

func TestPauseHoldFailureStopsStream(t *testing.T) {
	t.Parallel()
	boom := errors.New("db down")
	h := newHarness(t, twoSubscribersYAML, func(o *Options) {
		o.Holder = &fakeHolder{HoldFunc: func(context.Context, []deliver.Parked) error { return boom }}
		o.Pause = Pause{Paused: true, Mode: PauseHold}
	})
	ctx := context.Background()
	_ = h.r.Begin(ctx, &cdc.Begin{CommitLSN: 0x100})
	_ = h.r.Change(ctx, insert(users, int64(1), "a", "a@x", nil))
	if err := h.r.Commit(ctx, &cdc.Commit{EndLSN: 0x108}); !errors.Is(err, boom) {
		t.Fatalf("Commit = %v, want the hold error", err)
	}
	if h.tracker.txns[0].sealedAt != 0 {
		t.Error("transaction sealed although its held events were not durable")
	}
}

// Without a Holder, hold mode loses nothing: events are delivered.
func TestPauseHoldWithoutHolder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, twoSubscribersYAML, func(o *Options) { o.Pause = Pause{Paused: true, Mode: PauseHold} })
	h.tx(t, 0x100, insert(users, int64(1), "a", "a@x", nil))
	if n := len(h.sub.got()); n != 2 {
		t.Errorf("submitted %d, want 2", n)
	}
}

func TestControlState(t *testing.T) {
	t.Parallel()
	cases := []struct {
		row  cdc.Row
		want Pause
	}{
		{cdc.Row{int64(1), true, "skip", nil, ""}, Pause{true, PauseSkip}},
		{cdc.Row{int64(1), true, "hold", nil, ""}, Pause{true, PauseHold}},
		{cdc.Row{int64(1), true, "weird", nil, ""}, Pause{true, PauseHold}},
		{cdc.Row{int64(1), false, "hold", nil, ""}, Pause{}},
	}
	for _, tc := range cases {
		if got := controlState(control, tc.row); got != tc.want {
			t.Errorf("controlState(%v) = %+v, want %+v", tc.row, got, tc.want)
		}
	}
	h := newHarness(t, twoSubscribersYAML, func(o *Options) { o.Pause = Pause{Paused: true, Mode: PauseSkip} })
	h.tx(t, 0x100, del(control, cdc.Row{int64(1), true, "skip", nil, ""}))
	if st := h.r.State(); st.Paused {
		t.Errorf("after the control row was deleted State = %+v, want not paused", st)
	}
}

// Changes to walhook's subscription tables invalidate the Source at that
// point of the stream and never become webhooks.
func TestSubscriptionTablesInvalidate(t *testing.T) {
	t.Parallel()
	subscribers := &cdc.Relation{Schema: "walhook", Name: "subscribers", ReplicaIdentity: 'f', Columns: []cdc.Column{
		{Name: "id", Key: true}, {Name: "name"}, {Name: "table_name"},
	}}
	subscriptions := &cdc.Relation{Schema: "walhook", Name: "subscriptions", ReplicaIdentity: 'f', Columns: []cdc.Column{
		{Name: "id", Key: true}, {Name: "subscriber_id"}, {Name: "event_name"},
	}}
	var calls []string
	static := mustStatic(t, twoSubscribersYAML)
	src := &fakeSource{
		LookupFunc: func(ctx context.Context, table, event string) ([]*Subscription, error) {
			calls = append(calls, "lookup "+table)
			return static.Lookup(ctx, table, event)
		},
		InvalidateFunc: func(table string) { calls = append(calls, "invalidate "+table) },
	}
	h := newHarness(t, twoSubscribersYAML, func(o *Options) { o.Source = src })
	h.tx(t, 0x100,
		insert(subscribers, int64(1), "crm", "public.users"),
		insert(users, int64(1), "a", "a@x", nil),
		update(subscribers, cdc.Row{int64(1), "crm", "public.users"}, cdc.Row{int64(1), "crm", "public.orders"}),
		insert(subscriptions, int64(1), int64(1), "created"),
		&cdc.Change{Kind: cdc.Truncate, Relations: []*cdc.Relation{subscriptions}},
	)
	want := "invalidate public.users,lookup public.users,invalidate public.orders,invalidate public.users,invalidate ,invalidate "
	if join(calls) != want {
		t.Errorf("calls\n %s\nwant\n %s", join(calls), want)
	}
	if n := len(h.sub.got()); n != 2 {
		t.Errorf("%d events, want 2 (for the users insert only)", n)
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

// A big transaction in hold mode hands its events over in bounded batches.
func TestPauseHoldBatches(t *testing.T) {
	t.Parallel()
	var batches []int
	h := newHarness(t, twoSubscribersYAML, func(o *Options) {
		o.Holder = &fakeHolder{HoldFunc: func(_ context.Context, evs []deliver.Parked) error {
			batches = append(batches, len(evs))
			return nil
		}}
		o.Pause = Pause{Paused: true, Mode: PauseHold}
	})
	var changes []*cdc.Change
	for i := range holdBatch {
		changes = append(changes, insert(users, int64(i), "a", "a@x", nil))
	}
	h.tx(t, 0x100, changes...)
	if fmt.Sprint(batches) != fmt.Sprint([]int{holdBatch, holdBatch}) {
		t.Errorf("batches %v, want two of %d", batches, holdBatch)
	}
}

// A pause state read at start with paused false and a mode (the control
// row always has one) is the same state as the stream's not paused: the
// first switch must not warn that the assumed state was stale.
func TestNotPausedAtStartIgnoresMode(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h := newHarness(t, twoSubscribersYAML, func(o *Options) {
		o.Pause = Pause{Paused: false, Mode: PauseSkip}
		o.Logger = zerolog.New(&logs)
	})
	if st := h.r.State(); st != (Pause{}) {
		t.Fatalf("State = %+v, want not paused", st)
	}
	h.tx(t, 0x100, setPause(true, "hold"))
	if strings.Contains(logs.String(), "differed") {
		t.Errorf("spurious stale-state warning:\n%s", logs.String())
	}
	if st := h.r.State(); !st.Paused || st.Mode != PauseHold {
		t.Errorf("State = %+v, want paused hold", st)
	}
}
