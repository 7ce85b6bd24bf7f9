package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgtest"
)

// TestOneHundredThousandRowTransaction commits 100,000 rows in one
// transaction: every row's event arrives, each exactly once in the happy
// path, and the slot moves past the transaction. walhook runs as its own
// process (built without the race detector) so that the test measures
// walhook, not the detector's overhead on 100,000 requests.
func TestOneHundredThousandRowTransaction(t *testing.T) {
	if testing.Short() {
		t.Skip("100k-row transaction skipped in -short mode")
	}
	t.Parallel()
	const rows = 100000
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, `CREATE TABLE public.big (id bigint PRIMARY KEY, payload text NOT NULL)`)
	s := newSink(t)
	slot := testSlot(dsn)
	cfgPath := filepath.Join(t.TempDir(), "walhook.yaml")
	fatalIf(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
source: {dsn: %q, slot: %s}
delivery: {allow_networks: [127.0.0.0/8]}
admin: {listen: "127.0.0.1:0"}
subscribers:
  - {name: big, table: public.big, target_url: %q, secret: %s, subscriptions: [{event: created}]}
`, dsn, slot, s.srv.URL+"/big", testSecret)), 0o600), "write config")
	logPath := filepath.Join(t.TempDir(), "walhook.log")
	logf, err := os.Create(logPath)
	fatalIf(t, err, "log file")
	cmd := exec.Command(walhookBinary(t), "run", "--config", cfgPath, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	fatalIf(t, cmd.Start(), "start walhook")
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logf.Close()
	})
	waitSlot(t, dsn, slot)
	before := slotFlush(t, dsn, slot)
	execSQL(t, dsn, `INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 100000) g`)

	seen := make(map[int64]bool, rows)
	deadline := time.Now().Add(time.Duration(envInt("WALHOOK_BIGTX_SECONDS", 300)) * time.Second)
	for i := 0; len(seen) < rows; {
		fresh := s.since(i)
		i += len(fresh)
		for _, e := range fresh {
			var d struct{ ID int64 }
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			if seen[d.ID] {
				t.Fatalf("row %d delivered twice", d.ID)
			}
			seen[d.ID] = true
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(logPath)
			t.Fatalf("%d of %d rows arrived in time; walhook log:\n%s", len(seen), rows, tail(logs, 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitSettled(t, dsn, slot)
	if after := slotFlush(t, dsn, slot); after == before {
		t.Fatalf("slot did not advance past the transaction (still %s)", after)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// envInt reads an integer from the environment, def when unset or bad.
func envInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil && v > 0 {
		return v
	}
	return def
}
