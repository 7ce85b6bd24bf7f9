package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walhook/walhook/internal/pgtest"
)

// binDir is where buildBinary put the binary, removed after the tests.
var binDir atomic.Pointer[string]

// buildBinary builds walhook once per test binary.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "walhook-bin-")
	if err != nil {
		return "", err
	}
	binDir.Store(&dir)
	bin := filepath.Join(dir, "walhook")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func walhookBinary(t testing.TB) string {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin // shared by parallel tests; removed by TestMain
}

// TestKill9LosesNothing kills walhook with SIGKILL at random moments while
// 20,000 rows are written, restarting it each time: every row's event
// arrives at least once, always with the same event id, and the slot's
// confirmed_flush_lsn never moves backwards.
func TestKill9LosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 soak skipped in -short mode")
	}
	t.Parallel()
	const rows = 20000
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, `CREATE TABLE public.items (id bigint PRIMARY KEY, v int NOT NULL)`)
	s := newSink(t)
	cfgPath := filepath.Join(t.TempDir(), "walhook.yaml")
	cfg := fmt.Sprintf(`
source: {dsn: %q, slot: %s}
delivery: {allow_networks: [127.0.0.0/8]}
admin: {listen: "127.0.0.1:0"}
subscribers:
  - name: items
    table: public.items
    target_url: %s/items
    secret: %s
    retry_delay: 100ms
    subscriptions: [{event: created}]
`, dsn, testSlot(dsn), s.srv.URL, testSecret)
	fatalIf(t, os.WriteFile(cfgPath, []byte(cfg), 0o600), "write config")
	bin := walhookBinary(t)
	logPath := filepath.Join(t.TempDir(), "walhook.log")
	logf, err := os.Create(logPath)
	fatalIf(t, err, "create log")
	defer logf.Close()

	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", "--config", cfgPath, "--log-level", "warn")
		cmd.Stdout, cmd.Stderr = logf, logf
		fatalIf(t, cmd.Start(), "start walhook")
		return cmd
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mono monotonicFlush
	go mono.watch(ctx, t, dsn, testSlot(dsn))

	cmd := start()
	waitSlot(t, dsn, testSlot(dsn))
	writeDone := make(chan error, 1)
	go func() { writeDone <- writeItems(ctx, dsn, rows) }()

	kills := 0
	rng := rand.New(rand.NewPCG(1, 2))
	for writing := true; writing; {
		select {
		case err := <-writeDone:
			fatalIf(t, err, "write rows")
			writing = false
		case <-time.After(time.Duration(200+rng.IntN(800)) * time.Millisecond):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			kills++
			cmd = start()
		}
	}
	// One more kill after the writes, then let it finish.
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	kills++
	cmd = start()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()

	ids := waitAllItems(t, s, rows, 3*time.Minute, logPath)
	for id, evIDs := range ids {
		if len(evIDs) != 1 {
			t.Errorf("row %d arrived with %d different event ids: %v", id, len(evIDs), evIDs)
		}
	}
	if err := mono.err(); err != nil {
		t.Error(err)
	}
	t.Logf("%d kills; %d deliveries for %d rows", kills, len(s.snapshot()), rows)
}

// writeItems inserts rows 1..n in transactions of 1 to 50 rows.
func writeItems(ctx context.Context, dsn string, n int) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rng := rand.New(rand.NewPCG(3, 4))
	for next := 1; next <= n; {
		size := min(1+rng.IntN(50), n-next+1)
		_, err := conn.Exec(ctx, `INSERT INTO items SELECT g, g % 7 FROM generate_series($1::bigint, $2::bigint) g`, next, next+size-1)
		if err != nil {
			return fmt.Errorf("insert rows %d..: %w", next, err)
		}
		next += size
		time.Sleep(8 * time.Millisecond) // spread the writes over many kills
	}
	return nil
}

// waitAllItems waits until every row 1..n arrived and returns, per row id,
// the set of event ids it arrived with.
func waitAllItems(t *testing.T, s *sink, n int, timeout time.Duration, logPath string) map[int64]map[string]bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	ids := map[int64]map[string]bool{}
	seen := 0
	for {
		fresh := s.since(seen)
		seen += len(fresh)
		for _, e := range fresh {
			var d struct{ ID int64 }
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatalf("bad data %s: %v", e.Data, err)
			}
			if ids[d.ID] == nil {
				ids[d.ID] = map[string]bool{}
			}
			ids[d.ID][e.ID] = true
		}
		if len(ids) >= n {
			return ids
		}
		if time.Now().After(deadline) {
			missing := []int{}
			for i := 1; i <= n && len(missing) < 10; i++ {
				if ids[int64(i)] == nil {
					missing = append(missing, i)
				}
			}
			logs, _ := os.ReadFile(logPath)
			if len(logs) > 4000 {
				logs = logs[len(logs)-4000:]
			}
			t.Fatalf("after %v only %d of %d rows arrived; first missing %v\nwalhook log tail:\n%s", timeout, len(ids), n, missing, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// monotonicFlush polls a slot's confirmed_flush_lsn and remembers whether
// it ever moved backwards.
type monotonicFlush struct {
	mu      sync.Mutex
	last    uint64
	problem error
}

func (m *monotonicFlush) watch(ctx context.Context, t *testing.T, dsn, slot string) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for ctx.Err() == nil {
		var lsn *uint64
		err := conn.QueryRow(ctx, `SELECT (confirmed_flush_lsn - '0/0'::pg_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&lsn)
		if err == nil && lsn != nil {
			m.mu.Lock()
			if *lsn < m.last && m.problem == nil {
				m.problem = fmt.Errorf("confirmed_flush_lsn moved backwards: %d after %d", *lsn, m.last)
			}
			m.last = max(m.last, *lsn)
			m.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (m *monotonicFlush) err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.problem
}
