package main

import (
	"testing"
	"time"
)

func TestStatusCommand(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.seedLog(t)

	out := f.mustRun(t, exitOK, "status")
	mustContain(t, out, "2 active, 0 inactive", "3 deliveries, 1 failed", "1 failed", "1 held",
		"running (not paused)", "does not exist yet", "none: no walhook process holds the slot")

	rep := decodeJSON[statusReport](t, f.mustRun(t, exitOK, "status", "--json"))
	if rep.SubscribersActive != 2 || rep.Deliveries24h != 3 || rep.Failed24h != 1 ||
		rep.QueueDepth["failed"] != 1 || rep.QueueDepth["held"] != 1 || rep.Slot.Exists || rep.Leader.PID != 0 ||
		len(rep.Subscribers) != 0 || len(rep.Problems) != 0 {
		t.Fatalf("status: %+v", rep)
	}

	out = f.mustRun(t, exitOK, "status", "--detailed")
	mustContain(t, out, "users hook (id 1): active, HEALTHY", f.sink.srv.URL+"/users/updated", "consecutive failures 0 of 10")
}

// TestStatusSeesSlotAndLeader runs walhook and checks that status reports
// its slot and the process holding the leader lock.
func TestStatusSeesSlotAndLeader(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	startPipeline(t, f.cfg)
	waitSlot(t, f.dsn, "walhook")
	var rep statusReport
	poll(t, 30*time.Second, "an active slot and a leader in status", func() bool {
		rep = decodeJSON[statusReport](t, f.mustRun(t, exitOK, "status", "--json"))
		return rep.Slot.Active && rep.Leader.PID != 0 && rep.Slot.ConfirmedFlushLSN != ""
	})
	if rep.Slot.WALStatus == "" {
		t.Fatalf("slot: %+v", rep.Slot)
	}
}
