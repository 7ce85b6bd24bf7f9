package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/config"
)

func lookup(t *testing.T, db *DB, table, event string) []string {
	t.Helper()
	subs, err := db.Lookup(context.Background(), table, event)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	var out []string
	for _, s := range subs {
		st := "on"
		if !s.Active {
			st = "off"
		}
		out = append(out, s.Key+"="+st)
	}
	return out
}

func TestLookupBuildsSubscriptions(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{Tables: []config.Table{{Name: "public.users",
		Fields: &config.Projection{Fields: []config.Field{{Key: "id", Column: "id"}}}}}})
	subr, subs := addSubscriber(t, db, "crm", "public.users", "https://h.example.com/webhooks/", "created", "updated")
	exec(t, db, `UPDATE {{schema}}.subscriptions SET custom_endpoint = '/users/updated' WHERE id = $1`, subs[1])
	exec(t, db, `UPDATE {{schema}}.subscribers SET secrets = '{whsec_a,whsec_b}', headers = '{"X-Key": "k"}', timeout_ms = 1500, batch_size = 5 WHERE id = $1`, subr)
	got, err := db.Lookup(context.Background(), "public.users", "updated")
	if err != nil || len(got) != 1 {
		t.Fatalf("Lookup = %v, %v", got, err)
	}
	s := got[0]
	ep := s.Endpoint
	if s.ID != subs[1] || s.SubscriberID != subr || s.Key != "crm/updated" || s.Table != "public.users" || !s.Active {
		t.Errorf("subscription = %+v", s)
	}
	if ep.URL != "https://h.example.com/webhooks/users/updated" || len(ep.Secrets) != 2 || ep.Headers["X-Key"] != "k" ||
		ep.Timeout != 1500*time.Millisecond || ep.RetryDelay != time.Second || ep.MaxRetries != 3 || ep.BatchSize != 5 ||
		ep.SubscriptionID != subs[1] || ep.SubscriberID != subr {
		t.Errorf("endpoint = %+v", ep)
	}
	if s.Projection == nil {
		t.Error("table projection not applied")
	}
	if got := scalar[string](t, db, `SELECT endpoint FROM {{schema}}.subscriptions_v WHERE id = $1`, subs[1]); got != ep.URL {
		t.Errorf("subscriptions_v.endpoint = %s, Lookup URL = %s", got, ep.URL)
	}

	exec(t, db, `UPDATE {{schema}}.subscribers SET projection = '{"x": "nope", "x2": {"const": 1}}' WHERE id = $1`, subr)
	db.Invalidate("")
	if got, _ := db.Lookup(context.Background(), "public.users", "updated"); got[0].Projection == nil {
		t.Error("subscriber projection not applied")
	}
	// A projection the trigger would refuse (written with the trigger off)
	// drops that subscription's events instead of stopping the stream.
	exec(t, db, `ALTER TABLE {{schema}}.subscribers DISABLE TRIGGER subscriber_check_projection`)
	exec(t, db, `UPDATE {{schema}}.subscribers SET projection = '42' WHERE id = $1`, subr)
	db.Invalidate("")
	got, err = db.Lookup(context.Background(), "public.users", "updated")
	if err != nil || len(got) != 1 || got[0].Active {
		t.Errorf("bad projection: Lookup = %+v, %v; want the subscription, inactive", got, err)
	}
}

func TestProjectionIsCheckedAndKeepsOrder(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	subr, _ := addSubscriber(t, db, "crm", "public.users", "https://h.example.com/")
	for _, ok := range []string{
		`null`, `["id", "email"]`, `{"mail": "email", "id": "id"}`, `{"id": null}`,
		`{"kind": {"const": {"a": [1, 2]}}, "contact": {"email": "email", "n": {"x": "y"}}}`,
	} {
		exec(t, db, `UPDATE {{schema}}.subscribers SET projection = $2 WHERE id = $1`, subr, ok)
		if got := scalar[string](t, db, `SELECT coalesce(projection::text, 'null') FROM {{schema}}.subscribers WHERE id = $1`, subr); got != ok {
			t.Errorf("stored %s as %s", ok, got)
		}
	}
	for bad, want := range map[string]string{
		`42`:                            "want an array of column names",
		`[]`:                            "projection: is empty",
		`["id", ""]`:                    "projection[1]: want a column name",
		`["id", "id"]`:                  "listed twice",
		`{}`:                            "projection: is empty",
		`{"a": 1}`:                      "projection.a: want a column name",
		`{"a": ""}`:                     "projection.a: column name is empty",
		`{"a": {"const": 1, "b": "c"}}`: "no other keys",
		`{"a": {"b": {}}}`:              "projection.a.b: is empty",
		`{"a": "x", "a": "y"}`:          "appears twice",
		`{"a": {"b": [1]}}`:             "projection.a.b: want a column name",
	} {
		_, err := db.pool.Exec(context.Background(), db.render(`UPDATE {{schema}}.subscribers SET projection = $2 WHERE id = $1`), subr, bad)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("projection %s: error %v, want it to say %q", bad, err, want)
		}
	}
}

func TestLookupActiveFlags(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	a, _ := addSubscriber(t, db, "a", "public.users", "https://a.example.com/", "created")
	b, _ := addSubscriber(t, db, "b", "public.users", "https://b.example.com/", "created")
	_, cs := addSubscriber(t, db, "c", "public.users", "https://c.example.com/", "created")
	exec(t, db, `UPDATE {{schema}}.subscribers SET is_active = false WHERE id = $1`, a)
	exec(t, db, `UPDATE {{schema}}.subscribers SET is_active = false, auto_disabled_at = now(), disabled_reason = '410' WHERE id = $1`, b)
	exec(t, db, `UPDATE {{schema}}.subscriptions SET is_active = false WHERE id = $1`, cs[0])
	// a: switched off (dropped); b: auto-disabled (routed, then parked);
	// c: subscription off.
	if got := strings.Join(lookup(t, db, "public.users", "created"), " "); got != "a/created=off b/created=on c/created=off" {
		t.Fatalf("Lookup = %s", got)
	}
}

func TestCacheHitMissInvalidate(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	addSubscriber(t, db, "a", "public.users", "https://a.example.com/", "created")
	if got := lookup(t, db, "public.users", "created"); len(got) != 1 {
		t.Fatalf("first Lookup = %v", got)
	}
	addSubscriber(t, db, "b", "public.users", "https://b.example.com/", "created")
	if got := lookup(t, db, "public.users", "created"); len(got) != 1 {
		t.Fatalf("cached Lookup = %v, want the cached single subscription", got)
	}
	st := db.CacheStats()
	if st.Hits != 1 || st.Misses != 1 || st.Loads != 1 || st.Keys != 1 || st.HitRatio != 0.5 {
		t.Fatalf("stats = %+v", st)
	}
	db.Invalidate("public.users")
	if got := lookup(t, db, "public.users", "created"); len(got) != 2 {
		t.Fatalf("Lookup after Invalidate = %v", got)
	}
	if got := lookup(t, db, "public.orders", "created"); len(got) != 0 {
		t.Fatalf("Lookup of a table without subscribers = %v", got)
	}
	lookup(t, db, "public.orders", "created") // empty results are cached too
	if st := db.CacheStats(); st.Loads != 3 || st.Keys != 2 || st.Invalidations != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestCacheClearAndWarm(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	ctx := context.Background()
	addSubscriber(t, db, "a", "public.users", "https://a.example.com/", "created", "updated")
	addSubscriber(t, db, "b", "public.orders", "https://b.example.com/", "paid")
	n, err := db.WarmCache(ctx)
	if err != nil || n != 3 {
		t.Fatalf("WarmCache = %d, %v; want 3", n, err)
	}
	lookup(t, db, "public.users", "created")
	lookup(t, db, "public.orders", "paid")
	if st := db.CacheStats(); st.Hits != 2 || st.Loads != 1 || st.Keys != 3 {
		t.Fatalf("after warm: %+v", st)
	}
	db.ClearCache("public.users", "created")
	if st := db.CacheStats(); st.Keys != 2 {
		t.Fatalf("after clearing one event: %+v", st)
	}
	db.ClearCache("public.users", "")
	if st := db.CacheStats(); st.Keys != 1 {
		t.Fatalf("after clearing a table: %+v", st)
	}
	db.ClearCache("", "")
	if st := db.CacheStats(); st.Keys != 0 {
		t.Fatalf("after clearing all: %+v", st)
	}
	lookup(t, db, "public.orders", "paid")
	if st := db.CacheStats(); st.Loads != 2 {
		t.Fatalf("Lookup after clear did not load: %+v", st)
	}
}

func TestCacheTTLBoundsStaleness(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{CacheTTL: 50 * time.Millisecond})
	addSubscriber(t, db, "a", "public.users", "https://a.example.com/", "created")
	lookup(t, db, "public.users", "created")
	addSubscriber(t, db, "b", "public.users", "https://b.example.com/", "created")
	// No invalidation: the change shows once the entry expires.
	eventually(t, "the entry to expire", func() bool { return len(lookup(t, db, "public.users", "created")) == 2 })
}

func TestLookupConcurrentWithInvalidate(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	addSubscriber(t, db, "a", "public.users", "https://a.example.com/", "created")
	ctx := context.Background()
	done := make(chan struct{})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				if subs, err := db.Lookup(ctx, "public.users", "created"); err != nil || len(subs) < 1 {
					errs <- fmt.Errorf("Lookup = %d subscriptions, %v", len(subs), err)
					return
				}
			}
		}()
	}
	for range 50 {
		db.Invalidate("")
		db.ClearCache("public.users", "")
	}
	// After the last invalidation a new subscriber is seen at once.
	addSubscriber(t, db, "b", "public.users", "https://b.example.com/", "created")
	db.Invalidate("")
	if got := lookup(t, db, "public.users", "created"); len(got) != 2 {
		t.Errorf("after invalidation: %v", got)
	}
	close(done)
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
