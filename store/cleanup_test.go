package store

import (
	"context"
	"testing"
)

// Deleting a subscription, directly or through its subscriber, deletes its
// retry rows (the trigger that replaced the foreign key) and no others.
func TestDeletingSubscriptionDeletesItsRetryRows(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	a, subA := retrySubscriber(t, db, "a", "https://a.example.com/", 3)
	b, subsB := addSubscriber(t, db, "b", "public.users", "https://b.example.com/", "created", "updated")
	c, subC := retrySubscriber(t, db, "c", "https://c.example.com/", 3)
	park(t, db, eventFor(a, subA, "a1", "r1"), eventFor(a, subA, "a2", "r1"),
		eventFor(b, subsB[0], "b1", "r1"), eventFor(b, subsB[1], "b2", "r1"), eventFor(c, subC, "c1", "r1"))

	exec(t, db, `DELETE FROM {{schema}}.subscriptions WHERE id = $1`, subA)
	if got := queue(t, db); got != "b1=pending/1,b2=pending/1,c1=pending/1" {
		t.Fatalf("after deleting subscription a: queue = %s", got)
	}
	exec(t, db, `DELETE FROM {{schema}}.subscribers WHERE id = $1`, b)
	if got := queue(t, db); got != "c1=pending/1" {
		t.Fatalf("after deleting subscriber b: queue = %s", got)
	}
}

// A row parked for a subscription deleted meanwhile (a Park that raced the
// delete) is never claimed; the retry worker's housekeeping deletes it.
func TestRetryWorkerDeletesRowsOfDeletedSubscriptions(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	ctx := context.Background()
	subr, sub := retrySubscriber(t, db, "kept", "https://kept.example.com/", 3)
	park(t, db, eventFor(subr, sub, "kept1", "r1"))
	// What the race leaves behind: rows whose subscription is gone.
	for _, gone := range []int64{sub + 100, sub + 101} {
		exec(t, db, `INSERT INTO {{schema}}.retry_queue (event_id, subscription_id, subscriber_id, event_name, table_name, order_key, payload)
VALUES ('orphan' || $1::bigint, $1::bigint, $2, 'created', 'public.users', 'r1', '{}')`, gone, subr)
	}
	if n, err := db.dropOrphanRetryRows(ctx); err != nil || n != 2 {
		t.Fatalf("dropOrphanRetryRows = %d, %v; want 2, nil", n, err)
	}
	if got := queue(t, db); got != "kept1=pending/1" {
		t.Fatalf("queue = %s, want only kept1", got)
	}
	exec(t, db, `INSERT INTO {{schema}}.retry_queue (event_id, subscription_id, subscriber_id, event_name, table_name, payload)
VALUES ('orphan', $1, $2, 'created', 'public.users', '{}')`, sub+200, subr)
	db.housekeep(ctx)
	if got := queue(t, db); got != "kept1=pending/1" {
		t.Fatalf("after housekeep: queue = %s, want only kept1", got)
	}
	if n, err := db.dropOrphanRetryRows(ctx); err != nil || n != 0 {
		t.Fatalf("dropOrphanRetryRows on a clean queue = %d, %v; want 0, nil", n, err)
	}
}
