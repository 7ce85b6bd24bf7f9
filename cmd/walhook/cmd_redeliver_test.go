package main

import "testing"

func TestRedeliverCommand(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.seedLog(t) // evt_c failed, evt_h held

	stderr := f.mustRun(t, exitError, "redeliver", "--event-id", "evt_nope")
	mustContain(t, stderr, `no failed retry-queue entry has event id "evt_nope"`)
	f.mustRun(t, exitUsage, "redeliver", "--subscriber", "nobody")
	mustContain(t, f.mustRun(t, exitOK, "redeliver", "--subscriber", "lines hook"), "0 retry-queue entries")

	out := f.mustRun(t, exitOK, "redeliver", "--subscriber", "users hook")
	mustContain(t, out, "1 retry-queue entries are due now")
	var status string
	var attempts int
	pgtestQuery(t, f.dsn, `SELECT status, attempts FROM walhook.retry_queue WHERE event_id = 'evt_c'`, &status, &attempts)
	if status != "pending" || attempts != 0 {
		t.Fatalf("evt_c: status %s attempts %d, want pending with a fresh budget", status, attempts)
	}

	f.sql(t, `UPDATE walhook.retry_queue SET next_attempt_at = now() + interval '1 hour' WHERE event_id = 'evt_c'`)
	res := decodeJSON[map[string]int](t, f.mustRun(t, exitOK, "redeliver", "--pending", "--json"))
	if res["redelivered"] != 1 {
		t.Fatalf("redeliver --pending: %v", res)
	}
	if n := f.count(t, `SELECT count(*) FROM walhook.retry_queue WHERE next_attempt_at <= now()`); n != 2 {
		t.Fatalf("%d rows due now, want 2", n)
	}
}
