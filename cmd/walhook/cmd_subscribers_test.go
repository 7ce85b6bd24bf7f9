package main

import (
	"testing"

	"github.com/walhook/walhook/admin"
)

// subscriberJSON decodes admin.Subscriber's JSON, whose durations are
// strings.
type subscriberJSON struct {
	admin.Subscriber
	RetryDelay string `json:"retry_delay"`
	Timeout    string `json:"timeout"`
}

func TestSubscribersCommands(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.seedLog(t)

	out := f.mustRun(t, exitOK, "subscribers", "list")
	mustContain(t, out, "users hook", "lines hook", "created,updated", "active")

	subs := decodeJSON[[]subscriberJSON](t, f.mustRun(t, exitOK, "subscribers", "list", "--json"))
	if len(subs) != 2 || subs[0].Name != "lines hook" || subs[1].Name != "users hook" {
		t.Fatalf("subscribers: %+v", subs)
	}
	users := subs[1]
	if users.RetryDelay != "1h0m0s" || users.SecretHint == "" || users.SecretHint == testSecret || len(users.Subscriptions) != 2 {
		t.Fatalf("users hook: %+v", users)
	}
	recent := users.Subscriptions[0].RecentDeliveries
	if len(recent) != 4 || !recent[0].CreatedAt.After(recent[1].CreatedAt) {
		t.Fatalf("recent deliveries of created, want 4 newest first: %+v", recent)
	}
	if users.Subscriptions[1].Endpoint != f.sink.srv.URL+"/users/updated" {
		t.Errorf("updated endpoint %q", users.Subscriptions[1].Endpoint)
	}

	out = f.mustRun(t, exitOK, "subscribers", "show", "users hook")
	mustContain(t, out, "users hook (id 1): active, HEALTHY", "retry_delay 1h0m0s", "whsec_…", "the configuration file")

	out = f.mustRun(t, exitOK, "subscribers", "disable", "users hook")
	mustContain(t, out, `subscriber "users hook"`, "disabled", "next walhook start")
	if n := f.count(t, `SELECT count(*) FROM walhook.subscribers WHERE NOT is_active`); n != 1 {
		t.Fatalf("%d inactive subscribers, want 1", n)
	}
	// Switched off by hand is not a failure.
	mustContain(t, f.mustRun(t, exitOK, "status"), "1 active, 1 inactive (healthy 2, warning 0, critical 0)")
	f.mustRun(t, exitOK, "subscribers", "enable", "users hook")
	f.sql(t, `INSERT INTO walhook.subscriber_stats (subscriber_id, total_deliveries, failed_deliveries, consecutive_failures)
SELECT id, 5, 5, 5 FROM walhook.subscribers WHERE name = 'users hook'`)
	out = f.mustRun(t, exitOK, "subscribers", "reset", "users hook")
	mustContain(t, out, "counters reset")
	if n := f.count(t, `SELECT coalesce(sum(total_deliveries), 0) FROM walhook.subscriber_stats`); n != 0 {
		t.Fatalf("total deliveries after reset: %d", n)
	}

	// By id works too; unknown names are usage errors that list the known ones.
	f.mustRun(t, exitOK, "subscribers", "enable", "1")
	stderr := f.mustRun(t, exitUsage, "subscribers", "disable", "nobody")
	mustContain(t, stderr, `no subscriber is named "nobody"`, `"lines hook"`, `"users hook"`)
	stderr = f.mustRun(t, exitUsage, "subscribers", "disable")
	mustContain(t, stderr, "takes 1 argument")
}
