package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/config"
	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/store"
)

const manageSchema = `
CREATE TABLE public.users (id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL);
CREATE TABLE public.lines (order_id bigint, line int, qty int, PRIMARY KEY (order_id, line));
CREATE TABLE public.nokey (id int);
`

const manageYAML = `
source:
  dsn: "{{DSN}}"
delivery:
  allow_networks: [127.0.0.0/8]
admin:
  listen: 127.0.0.1:1
  token: test-admin-token-0123456789
tables:
  public.users:
    fields: [id, name, email]
events:
  - name: paid
    table: public.lines
subscribers:
  - name: users hook
    table: public.users
    target_url: {{URL}}/users
    secret: {{SECRET}}
    retry_delay: 1h
    subscriptions:
      - event: created
      - event: updated
        custom_endpoint: updated
  - name: lines hook
    table: public.lines
    target_url: {{URL}}/lines
    secret: {{SECRET}}
    retry_delay: 1h
    subscriptions:
      - event: paid
`

// fixture is a migrated state database with the subscribers of manageYAML
// and a receiver.
type fixture struct {
	dsn     string
	cfgPath string
	cfg     *config.Config
	sink    *sink
	db      *store.DB
}

// newFixture creates the source tables, writes the configuration file and
// migrates and syncs the state schema, as walhook run would.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{dsn: pgtest.NewDB(t), sink: newSink(t)}
	execSQL(t, f.dsn, manageSchema)
	yaml := strings.NewReplacer("{{DSN}}", f.dsn, "{{URL}}", f.sink.srv.URL, "{{SECRET}}", testSecret).Replace(manageYAML)
	f.cfgPath = filepath.Join(t.TempDir(), "walhook.yaml")
	err := os.WriteFile(f.cfgPath, []byte(yaml), 0o600)
	fatalIf(t, err, "write config")
	f.cfg, err = config.Load(f.cfgPath)
	fatalIf(t, err, "load config")
	ctx := context.Background()
	f.db, err = store.Open(ctx, f.cfg.State.DSN, f.cfg.State.Schema, store.Options{Tables: f.cfg.Tables})
	fatalIf(t, err, "open store")
	t.Cleanup(f.db.Close)
	fatalIf(t, f.db.Migrate(ctx), "migrate")
	fatalIf(t, f.db.SyncConfig(ctx, f.cfg), "sync config")
	return f
}

// run runs walhook with the fixture's configuration.
func (f *fixture) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCLI(t, append(args, "--config", f.cfgPath)...)
}

// mustRun runs walhook and fails unless it exits with want.
func (f *fixture) mustRun(t *testing.T, want int, args ...string) string {
	t.Helper()
	code, stdout, stderr := f.run(t, args...)
	if code != want {
		t.Fatalf("walhook %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	if want == exitOK {
		return stdout
	}
	return stderr
}

// sql runs statements on the fixture's database.
func (f *fixture) sql(t testing.TB, stmts ...string) { execSQL(t, f.dsn, stmts...) }

// count returns the result of a count query.
func (f *fixture) count(t *testing.T, query string) int64 {
	t.Helper()
	var n int64
	pgtestQuery(t, f.dsn, query, &n)
	return n
}

// seedLog writes delivery-log rows for "users hook", oldest first (ids 1
// to 4): an old success (40 days), a failure with an error message, two
// successes; and a failed and a held retry-queue row.
func (f *fixture) seedLog(t *testing.T) {
	t.Helper()
	f.sql(t, `INSERT INTO walhook.delivery_log (subscription_id, subscriber_id, event_id, event_name, table_name,
    attempt_number, request_payload, response_status, response_body, delivery_duration_ms, error_message, created_at)
SELECT sn.id, sb.id, v.event_id, 'created', 'public.users', 1, '{"id": 1}', v.status, '', 10, v.err, now() - v.age
FROM walhook.subscribers sb JOIN walhook.subscriptions sn ON sn.subscriber_id = sb.id AND sn.event_name = 'created',
(VALUES ('evt_a', 200, NULL, interval '1 hour'), ('evt_b', 204, NULL, interval '2 hours'),
        ('evt_c', 500, 'http 500', interval '3 hours'), ('evt_old', 200, NULL, interval '40 days'))
    AS v(event_id, status, err, age)
WHERE sb.name = 'users hook' ORDER BY v.age DESC`,
		`INSERT INTO walhook.retry_queue (event_id, subscription_id, subscriber_id, event_name, table_name, payload, status, attempts, last_error)
SELECT v.event_id, sn.id, sb.id, 'created', 'public.users', '{}'::bytea, v.status, 4, 'http 500'
FROM walhook.subscribers sb JOIN walhook.subscriptions sn ON sn.subscriber_id = sb.id AND sn.event_name = 'created',
(VALUES ('evt_c', 'failed'), ('evt_h', 'held')) AS v(event_id, status)
WHERE sb.name = 'users hook'`)
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

func mustContain(t *testing.T, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("output lacks %q:\n%s", w, s)
		}
	}
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	cfg := writeFile(t, "walhook.yaml", "source: {dsn: \""+dsn+"\"}\n")
	code, _, stderr := runCLI(t, "status", "--config", cfg)
	if code != exitError || !strings.Contains(stderr, "run walhook migrate") {
		t.Fatalf("status before migrate: exit %d, stderr %s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, "migrate", "--config", cfg)
	if code != exitOK || !strings.Contains(stdout, "migrated from version 0 to") {
		t.Fatalf("migrate: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, "migrate", "--config", cfg, "--json")
	res := decodeJSON[map[string]any](t, stdout)
	if code != exitOK || res["from_version"] != res["version"] || res["version"].(float64) < 1 {
		t.Fatalf("second migrate: exit %d, %v", code, res)
	}
}

func TestManagementCommandsNeedAConfig(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"status"}, {"logs", "stats"}, {"subscribers", "list"}, {"pause"}, {"cache", "stats"}, {"send", "public.users", "1", "created"}} {
		code, _, stderr := runCLI(t, append(args, "--config", "/nonexistent/walhook.yaml")...)
		if code != exitUsage || !strings.Contains(stderr, "walhook.yaml") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

// poll calls cond every 50ms until it holds, failing after timeout.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("no %s within %v", what, timeout)
		case <-tick.C:
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	fatalIf(t, err, "read %s", path)
	return string(b)
}
