package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgtest"
)

// TestSIGTERMDrainsAndExitsZero: on SIGTERM, walhook run stops reading,
// drains what is in flight, reports the final settled position (the slot
// has passed every delivered transaction) and exits 0.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, `CREATE TABLE public.items (id bigint PRIMARY KEY)`)
	s := newSink(t)
	slot := testSlot(dsn)
	cfgPath := filepath.Join(t.TempDir(), "walhook.yaml")
	fatalIf(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
source: {dsn: %q, slot: %s}
delivery: {allow_networks: [127.0.0.0/8]}
admin: {listen: "127.0.0.1:0"}
subscribers:
  - {name: items, table: public.items, target_url: %q, secret: %s, subscriptions: [{event: created}]}
`, dsn, slot, s.srv.URL+"/items", testSecret)), 0o600), "write config")
	cmd := exec.Command(walhookBinary(t), "run", "--config", cfgPath, "--log-level", "warn")
	out, err := os.Create(filepath.Join(t.TempDir(), "log"))
	fatalIf(t, err, "log file")
	cmd.Stdout, cmd.Stderr = out, out
	fatalIf(t, cmd.Start(), "start walhook")
	waitSlot(t, dsn, slot)
	execSQL(t, dsn, `INSERT INTO items SELECT generate_series(1, 500)`)
	var target string
	pgtestQuery(t, dsn, `SELECT pg_current_wal_lsn()::text`, &target)
	s.waitFor(500, time.Minute)

	fatalIf(t, cmd.Process.Signal(syscall.SIGTERM), "signal")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			logs, _ := os.ReadFile(out.Name())
			t.Fatalf("walhook exited with %v after SIGTERM, want 0; log:\n%s", err, logs)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("walhook did not exit within 30s of SIGTERM")
	}
	var passed bool
	pgtestQuery(t, dsn, `SELECT confirmed_flush_lsn >= '`+target+`'::pg_lsn FROM pg_replication_slots WHERE slot_name = '`+slot+`'`, &passed)
	if !passed {
		t.Fatalf("after a clean stop the slot is at %s, before the delivered writes ending at %s", slotFlush(t, dsn, slot), target)
	}
}
