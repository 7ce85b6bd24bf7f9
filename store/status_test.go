package store

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/walhook/walhook/deliver"
)

func TestStatusAndListings(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	ctx := context.Background()
	a, as := addSubscriber(t, db, "a", "public.users", "https://a.example.com/", "created", "updated")
	b, bs := addSubscriber(t, db, "b", "public.orders", "https://b.example.com/", "paid")
	exec(t, db, `UPDATE {{schema}}.subscribers SET secrets = '{whsec_0123456789abcdefghij}', headers = '{"X-Api-Key": "supersecretvalue"}' WHERE id = $1`, a)
	evA, evB := eventFor(a, as[0], "ea", "1"), eventFor(b, bs[0], "eb", "2")
	write(t, db, attempt(evA, 200), attempt(evA, 200), attempt(evB, 500), attempt(evB, 404))
	park(t, db, eventFor(b, bs[0], "q1", "2"))
	write(t, db, attempt(evB, 410)) // b auto-disabled: q1 becomes 'disabled'
	if err := db.SetPause(ctx, true, "hold", "ops"); err != nil {
		t.Fatal(err)
	}

	st, err := db.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Subscribers != 2 || st.ActiveSubscribers != 1 || st.AutoDisabledSubscribers != 1 ||
		st.Subscriptions != 3 || st.ActiveSubscriptions != 2 || st.Health["healthy"] != 1 || st.Health["critical"] != 1 {
		t.Errorf("status = %+v", st)
	}
	if st.Counters.Total != 5 || st.Counters.Successful != 2 || *st.Counters.SuccessRate != 40 {
		t.Errorf("status counters = %+v", st.Counters)
	}
	if st.Queue.Disabled != 1 || st.Queue.Pending != 0 || !st.Pause.Paused || st.Last24h.Total != 5 {
		t.Errorf("status queue/pause/logs = %+v %+v %+v", st.Queue, st.Pause, st.Last24h)
	}

	subs, err := db.Subscribers(ctx, Page{Limit: 1, Offset: 1})
	if err != nil || len(subs) != 1 || subs[0].Name != "b" {
		t.Fatalf("Subscribers page 2 = %+v, %v", subs, err)
	}
	if s := subs[0]; s.Health != "critical" || s.Queue.Disabled != 1 || s.DisabledReason != "endpoint answered 410 Gone" || s.Counters.ConsecutiveFailures != 3 {
		t.Errorf("b = %+v", s)
	}
	sa, err := db.SubscriberByName(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if sa.Secrets[0] != "whsec_01…" || sa.Headers["X-Api-Key"] != "super…" || sa.RetryDelay != time.Second {
		t.Errorf("a not masked as expected: %+v", sa)
	}
	if _, err := db.SubscriberByID(ctx, 4242); err == nil {
		t.Error("SubscriberByID of an unknown id: no error")
	}
	sn, err := db.Subscriptions(ctx, a, Page{})
	if err != nil || len(sn) != 2 || sn[0].Endpoint != "https://a.example.com/" || sn[0].Counters.Total != 2 || *sn[0].Counters.SuccessRate != 100 {
		t.Fatalf("Subscriptions(a) = %+v, %v", sn, err)
	}

	errs, err := db.RecentErrors(ctx, 2)
	if err != nil || len(errs) != 2 || errs[0].ResponseStatus == nil || *errs[0].ResponseStatus != 410 || errs[1].IsSuccess {
		t.Fatalf("RecentErrors = %+v, %v", errs, err)
	}
	ls, err := db.LogStats(ctx, 7)
	if err != nil || ls.Total != 5 || ls.ClientErrors != 2 || ls.ServerErrors != 1 || ls.Events != 2 {
		t.Fatalf("LogStats = %+v, %v", ls, err)
	}
	logs, err := db.Logs(ctx, LogFilter{SubscriptionID: as[0]}, Page{})
	if err != nil || len(logs) != 2 || !logs[0].IsSuccess {
		t.Fatalf("Logs = %+v, %v", logs, err)
	}
	q, err := db.RetryRows(ctx, "disabled", 0, Page{})
	if err != nil || len(q) != 1 || q[0].EventID != "q1" {
		t.Fatalf("RetryRows = %+v, %v", q, err)
	}

	if err := db.ResetCounters(ctx, b); err != nil {
		t.Fatal(err)
	}
	sb, _ := db.SubscriberByID(ctx, b)
	if sb.Counters.Total != 0 || sb.Counters.SuccessRate != nil {
		t.Errorf("after reset: %+v", sb.Counters)
	}
	if sa, _ := db.SubscriberByID(ctx, a); sa.Counters.Total != 2 {
		t.Errorf("reset of b touched a: %+v", sa.Counters)
	}
}

func TestCleanupLogs(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	ctx := context.Background()
	subr, subs := addSubscriber(t, db, "a", "public.users", "https://a.example.com/", "created")
	var atts []deliver.Attempt
	for i := range 25 {
		a := attempt(eventFor(subr, subs[0], "e", "k"), 200)
		if i < 23 {
			a.At = time.Now().Add(-40 * 24 * time.Hour)
		}
		atts = append(atts, a)
	}
	write(t, db, atts...)
	n, err := db.CleanupLogs(ctx, 30*24*time.Hour, 5)
	if err != nil || n != 23 {
		t.Fatalf("CleanupLogs = %d, %v; want 23", n, err)
	}
	if got := scalar[int](t, db, `SELECT count(*) FROM {{schema}}.delivery_log`); got != 2 {
		t.Fatalf("rows left = %d, want 2", got)
	}
	if _, err := db.CleanupLogs(ctx, 0, 5); err == nil {
		t.Fatal("CleanupLogs(0): no error")
	}
	// RunCleanup cleans at once.
	write(t, db, atts[:3]...)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- db.RunCleanup(cctx, 30*24*time.Hour, time.Hour) }()
	eventually(t, "RunCleanup to delete old rows", func() bool {
		return scalar[int](t, db, `SELECT count(*) FROM {{schema}}.delivery_log`) == 2
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	db, _ := openDB(t, Options{Registerer: reg})
	subr, subs := addSubscriber(t, db, "a", "public.users", "https://a.example.com/", "created")
	write(t, db, attempt(eventFor(subr, subs[0], "e", "k"), 200))
	lookup(t, db, "public.users", "created")
	db.housekeep(context.Background())
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetValue() + "}"
			}
			got[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	for k, want := range map[string]float64{
		"walhook_store_log_attempts_written_total": 1,
		"walhook_store_cache_lookups_total{miss}":  1,
		"walhook_store_cache_loads_total":          1,
		"walhook_store_retry_queue_rows{pending}":  0,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %t), want %v", k, v, ok, want)
		}
	}
	if _, err := Open(context.Background(), dsnOf(t, db), "walhook", Options{Registerer: reg}); err == nil {
		t.Error("registering twice on one registry: no error")
	}
}
