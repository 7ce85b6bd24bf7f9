package main

import (
	"context"
	"testing"

	"github.com/walhook/walhook/admin"
)

// benchState is a state database with 40 subscribers of 3 subscriptions
// each and 200,000 delivery-log rows, 1% failed: what the dashboard and
// status read on every refresh.
func benchState(b testing.TB) *stateAPI {
	b.Helper()
	f := newFixture(b)
	f.sql(b, `INSERT INTO walhook.subscribers (name, table_name, target_url)
SELECT 'bench ' || g, 'public.users', 'https://example.com/' || g FROM generate_series(1, 40) g`,
		`INSERT INTO walhook.subscriptions (subscriber_id, event_name)
SELECT sb.id, e FROM walhook.subscribers sb, unnest(ARRAY['created', 'updated', 'deleted']) e
WHERE sb.name LIKE 'bench %'`,
		`INSERT INTO walhook.delivery_log (subscription_id, subscriber_id, event_id, event_name, table_name,
    attempt_number, response_status, delivery_duration_ms, created_at)
SELECT sn.id, sn.subscriber_id, 'evt_' || g, sn.event_name, 'public.users', 1,
       CASE WHEN g % 100 = 0 THEN 500 ELSE 204 END, 12, now() - (g || ' seconds')::interval
FROM generate_series(1, 200000) g
JOIN walhook.subscriptions sn ON sn.id = 1 + g % (SELECT count(*) FROM walhook.subscriptions)`,
		`ANALYZE walhook.delivery_log`)
	return &stateAPI{db: f.db, cfg: f.cfg}
}

func BenchmarkListSubscribers(b *testing.B) {
	s := benchState(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		subs, err := s.ListSubscribers(ctx)
		if err != nil || len(subs) != 42 {
			b.Fatalf("%d subscribers, %v", len(subs), err)
		}
	}
}

func BenchmarkRecentErrors(b *testing.B) {
	s := benchState(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.RecentErrors(ctx, 20); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLogStats24h(b *testing.B) {
	s := benchState(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.LogStats(ctx, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkListLogsBySubscriber(b *testing.B) {
	s := benchState(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.ListLogs(ctx, admin.LogFilter{SubscriberID: 5, Limit: 50}); err != nil {
			b.Fatal(err)
		}
	}
}
