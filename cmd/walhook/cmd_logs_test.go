package main

import (
	"testing"

	"github.com/walhook/walhook/admin"
)

func TestLogsCommands(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.seedLog(t)

	out := f.mustRun(t, exitOK, "logs", "list")
	mustContain(t, out, "evt_a", "evt_b", "evt_c", "evt_old", "users hook")
	failed := decodeJSON[[]admin.LogEntry](t, f.mustRun(t, exitOK, "logs", "list", "--failed", "--json"))
	if len(failed) != 1 || failed[0].EventID != "evt_c" || failed[0].ErrorMessage != "http 500" || !failed[0].IsServerError {
		t.Fatalf("failed entries: %+v", failed)
	}
	some := decodeJSON[[]admin.LogEntry](t, f.mustRun(t, exitOK, "logs", "list", "--subscriber", "users hook", "--event", "created", "--limit", "2", "--json"))
	if len(some) != 2 || some[0].ID < some[1].ID {
		t.Fatalf("limited list, want 2 newest first: %+v", some)
	}

	out = f.mustRun(t, exitOK, "logs", "show", "2")
	mustContain(t, out, "evt_c", "failed (HTTP 500) http 500", "Request payload:", `"id": 1`)
	f.mustRun(t, exitUsage, "logs", "show", "999")
	f.mustRun(t, exitUsage, "logs", "show", "x")

	st := decodeJSON[admin.LogStats](t, f.mustRun(t, exitOK, "logs", "stats", "--days", "7", "--json"))
	if st.Total != 3 || st.Successful != 2 || st.Failed != 1 || st.SuccessRate != 66.66 || len(st.BySubscriber) != 1 {
		t.Fatalf("stats: %+v", st)
	}
	mustContain(t, f.mustRun(t, exitOK, "logs", "stats"), "last 7 days: 3 deliveries", "66.7%")

	out = f.mustRun(t, exitOK, "logs", "errors", "--limit", "20")
	mustContain(t, out, "evt_c", "http 500")

	out = f.mustRun(t, exitOK, "logs", "cleanup", "--dry-run")
	mustContain(t, out, "would delete 1 delivery-log entries older than 30 days")
	out = f.mustRun(t, exitOK, "logs", "cleanup", "--days", "30")
	mustContain(t, out, "deleted 1 ")
	if n := f.count(t, `SELECT count(*) FROM walhook.delivery_log`); n != 3 {
		t.Fatalf("%d log rows left, want 3", n)
	}

	for _, bad := range [][]string{
		{"logs", "cleanup", "--days", "0"},
		{"logs", "list", "--limit", "0"},
		{"logs", "list", "--failed", "--success"},
		{"logs", "stats", "--days", "-1"},
		{"logs", "list", "--subscriber", "nobody"},
	} {
		f.mustRun(t, exitUsage, bad...)
	}
}
