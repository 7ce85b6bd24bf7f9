package main

import (
	"testing"

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
