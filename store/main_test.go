package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/walhook/walhook/deliver"
	"github.com/walhook/walhook/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// openDB opens and migrates a fresh database with schema "walhook".
func openDB(t testing.TB, o Options) (*DB, string) {
	t.Helper()
	dsn := pgtest.NewDB(t)
	return openDSN(t, dsn, "walhook", o), dsn
}

func openDSN(t testing.TB, dsn, schema string, o Options) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, dsn, schema, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// addSubscriber inserts a subscriber with SQL and one subscription per
// event; it returns the subscriber id and the subscription ids.
func addSubscriber(t testing.TB, db *DB, name, table, url string, events ...string) (int64, []int64) {
	t.Helper()
	ctx := context.Background()
	var id int64
	err := db.pool.QueryRow(ctx, db.render(`INSERT INTO {{schema}}.subscribers (name, table_name, target_url, retry_delay_ms, auto_disable_after_failures)
VALUES ($1, $2, $3, 1000, 3) RETURNING id`), name, table, url).Scan(&id)
	if err != nil {
		t.Fatalf("insert subscriber: %v", err)
	}
	var subs []int64
	for _, ev := range events {
		var sid int64
		err := db.pool.QueryRow(ctx, db.render(`INSERT INTO {{schema}}.subscriptions (subscriber_id, event_name) VALUES ($1, $2) RETURNING id`), id, ev).Scan(&sid)
		if err != nil {
			t.Fatalf("insert subscription: %v", err)
		}
		subs = append(subs, sid)
	}
	return id, subs
}

// exec runs SQL (with {{schema}}) and fails the test on error.
func exec(t testing.TB, db *DB, sql string, args ...any) {
	t.Helper()
	if _, err := db.pool.Exec(context.Background(), db.render(sql), args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

// scalar runs a one-value query.
func scalar[T any](t testing.TB, db *DB, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := db.pool.QueryRow(context.Background(), db.render(sql), args...).Scan(&v); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return v
}

// eventFor builds an event of a subscription.
func eventFor(subscriberID, subscriptionID int64, id, key string) *deliver.Event {
	return &deliver.Event{
		ID: id, Name: "created", Table: "public.users", OrderKey: key,
		Body: []byte(fmt.Sprintf(`{"id":%q}`, id)),
		Endpoint: &deliver.Endpoint{
			SubscriberID: subscriberID, SubscriptionID: subscriptionID,
			URL: "http://example.invalid/", MaxRetries: 2, RetryDelay: time.Second,
		},
	}
}

func attempt(ev *deliver.Event, status int) deliver.Attempt {
	a := deliver.Attempt{Event: ev, Number: 1, Status: status, At: time.Now(), Duration: 3 * time.Millisecond}
	if status < 200 || status > 299 {
		a.Error = fmt.Sprintf("HTTP %d", status)
	}
	return a
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
