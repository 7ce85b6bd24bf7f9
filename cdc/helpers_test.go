package cdc

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"
	"github.com/walhook/walhook/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// txn is a transaction as a recorder saw it.
type txn struct {
	Begin   *Begin
	Changes []*Change
	Commit  *Commit
}

// recorder is a Handler that keeps committed transactions.
type recorder struct {
	mu        sync.Mutex
	open      *txn
	txns      []*txn
	rollbacks int
	changed   chan struct{}
	// onChange, when set, is called for every change (outside the lock).
	onChange func(c *Change)
	keep     bool // keep changes (false: count only)
	counted  int
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}), keep: true} }

func (r *recorder) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recorder) Begin(_ context.Context, b *Begin) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.open = &txn{Begin: b}
	return nil
}

func (r *recorder) Change(_ context.Context, c *Change) error {
	if r.onChange != nil {
		r.onChange(c)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counted++
	if r.keep {
		r.open.Changes = append(r.open.Changes, c)
	}
	return nil
}

func (r *recorder) Commit(_ context.Context, c *Commit) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.open.Commit = c
	r.txns = append(r.txns, r.open)
	r.open = nil
	r.notify()
	return nil
}

func (r *recorder) Rollback(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.open = nil
	r.rollbacks++
	return nil
}

// wait polls until cond holds (under the lock) or the deadline passes.
func (r *recorder) wait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		r.mu.Lock()
		ok, ch := cond(), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitTxns waits for n committed transactions and returns them all.
func (r *recorder) waitTxns(t testing.TB, n int) []*txn {
	t.Helper()
	r.wait(t, "transactions", func() bool { return len(r.txns) >= n })
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*txn(nil), r.txns...)
}

// setup creates tables with the given DDL, prepares slot and publication for
// them and returns the start LSN.
func setup(t testing.TB, dsn string, tables []string, ddl ...string) LSN {
	t.Helper()
	pgtest.Exec(t, dsn, ddl...)
	start, err := Prepare(context.Background(), dsn, SetupOptions{Slot: slotFor(t, dsn), Publication: "walhook", Tables: tables})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return start
}

// run starts a Stream in the background; it is stopped when the test ends,
// and must then return nil.
func run(t testing.TB, o StreamOptions, h Handler) (stop func()) {
	t.Helper()
	if o.Slot == "" {
		o.Slot, o.Publication = slotFor(t, o.DSN), "walhook"
	}
	o.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewStream(o).Run(ctx, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

func currentLSN(t testing.TB, conn *pgx.Conn) LSN {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&s); err != nil {
		t.Fatal(err)
	}
	lsn, err := ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func mustExec(t testing.TB, c execer, sql string, args ...any) {
	t.Helper()
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

// slotFor names the test database's slot after the database: slots are
// shared by the whole server.
func slotFor(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}
