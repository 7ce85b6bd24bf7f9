package main

import (
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/admin"
)

func TestPauseAndResumeCommands(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.seedLog(t) // one held row

	out := f.mustRun(t, exitOK, "pause", "--mode", "hold")
	mustContain(t, out, "paused (hold)", "walhook resume delivers them")
	st := decodeJSON[admin.PauseState](t, f.mustRun(t, exitOK, "pause", "--mode", "hold", "--json"))
	if !st.Paused || st.Mode != "hold" || st.Since.IsZero() {
		t.Fatalf("pause state: %+v", st)
	}
	mustContain(t, f.mustRun(t, exitOK, "status"), "PAUSED in hold mode")
	var by string
	pgtestQuery(t, f.dsn, `SELECT updated_by FROM walhook.control`, &by)
	mustContain(t, by, "cli")

	stderr := f.mustRun(t, exitUsage, "pause", "--mode", "later")
	mustContain(t, stderr, `--mode "later" is not a pause mode`, "skip", "hold")

	// No walhook holds the slot, so resume releases the held row itself.
	out = f.mustRun(t, exitOK, "resume")
	mustContain(t, out, "resumed (was paused in hold mode)", "released 1 held events")
	if n := f.count(t, `SELECT count(*) FROM walhook.retry_queue WHERE status = 'held'`); n != 0 {
		t.Fatalf("%d rows still held", n)
	}
	mustContain(t, f.mustRun(t, exitOK, "resume"), "was not paused")

	f.mustRun(t, exitOK, "pause")
	mustContain(t, f.mustRun(t, exitOK, "status"), "PAUSED in skip mode")
	res := decodeJSON[resumeResult](t, f.mustRun(t, exitOK, "resume", "--json"))
	if !res.WasPaused || res.Mode != "skip" || res.Released != 0 {
		t.Fatalf("resume: %+v", res)
	}
}

// TestPauseHoldResumeWithRunningWalhook pauses a running walhook in hold
// mode: a change inside the window is parked as held, not delivered, and
// delivered after resume, released by the streaming router.
func TestPauseHoldResumeWithRunningWalhook(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	startPipeline(t, f.cfg)
	waitSlot(t, f.dsn, "walhook")
	f.sql(t, `INSERT INTO public.users VALUES (1, 'Ada', 'ada@example.com')`)
	f.sink.waitFor(1, 30*time.Second)

	f.mustRun(t, exitOK, "pause", "--mode", "hold")
	f.sql(t, `INSERT INTO public.users VALUES (2, 'Bob', 'bob@example.com')`)
	poll(t, 30*time.Second, "held event", func() bool {
		return f.count(t, `SELECT count(*) FROM walhook.retry_queue WHERE status = 'held'`) == 1
	})
	if n := len(f.sink.snapshot()); n != 1 {
		t.Fatalf("%d events delivered while paused in hold mode, want 1 (from before the pause)", n)
	}

	out := f.mustRun(t, exitOK, "resume")
	mustContain(t, out, "resumed (was paused in hold mode)")
	evs := f.sink.waitFor(2, 30*time.Second)
	if !strings.Contains(string(evs[1].Data), `"id":2`) {
		t.Fatalf("second event %s, want user 2", evs[1].Body)
	}
	poll(t, 30*time.Second, "empty retry queue", func() bool {
		return f.count(t, `SELECT count(*) FROM walhook.retry_queue`) == 0
	})
}
