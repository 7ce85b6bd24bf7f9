// Package pgtest gives tests a real PostgreSQL server with wal_level=logical.
//
// By default it starts one throwaway cluster per test binary (see
// internal/pgcluster) on first use and stops it when the tests end; each test
// gets a fresh database of its own, so replication slots and publications of
// parallel tests never meet. When WALHOOK_TEST_DSN is set, that server is
// used instead (it must have wal_level=logical and a role that may create
// databases and replicate).
//
// Without PostgreSQL binaries a test is skipped, except under CI=true, where
// it fails.
//
// A package that uses pgtest must hand its TestMain to Main:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walhook/walhook/internal/pgcluster"
)

var (
	once     sync.Once
	cluster  *pgcluster.Cluster
	baseDSN  string
	startErr error
	dbSeq    atomic.Int64
)

// Main runs the tests and stops the shared cluster afterwards. It calls
// os.Exit with the tests' exit code.
func Main(m *testing.M) { MainWithCleanup(m, nil) }

// MainWithCleanup is Main that also runs cleanup (when not nil) after the
// tests, before the cluster stops.
func MainWithCleanup(m *testing.M, cleanup func()) {
	code := m.Run()
	if cleanup != nil {
		cleanup()
	}
	if cluster != nil {
		cluster.Stop()
	}
	os.Exit(code)
}

func server() (string, error) {
	once.Do(func() {
		if dsn := os.Getenv("WALHOOK_TEST_DSN"); dsn != "" {
			baseDSN = dsn
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cluster, startErr = pgcluster.Start(ctx, pgcluster.Options{})
		if startErr == nil {
			baseDSN = cluster.DSN("postgres")
		}
	})
	return baseDSN, startErr
}

// Server returns a DSN for the server's maintenance database ("postgres").
// It skips the test (fails it under CI=true) when no server can be had.
func Server(t testing.TB) string {
	t.Helper()
	dsn, err := server()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no PostgreSQL for tests (CI=true forbids skipping): %v", err)
		}
		t.Skipf("no PostgreSQL for tests: %v", err)
	}
	return dsn
}

// NewDB creates a fresh database for the test, drops it when the test ends
// (after terminating its connections and dropping its replication slots),
// and returns its DSN.
func NewDB(t testing.TB) string {
	t.Helper()
	base := Server(t)
	name := fmt.Sprintf("walhook_t%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() { dropDB(t, base, name) })
	return WithDatabase(t, base, name)
}

func dropDB(t testing.TB, base, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Logf("drop test database %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	for {
		_, _ = conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name)
		_, _ = conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active`, name)
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name)
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Logf("drop test database %s: %v", name, err)
	}
}

// WithDatabase returns dsn with its database name replaced by db.
func WithDatabase(t testing.TB, dsn, db string) string {
	t.Helper()
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("parse DSN: %v", err)
		}
		u.Path = "/" + db
		return u.String()
	}
	return dsn + " dbname=" + db
}

// Exec runs SQL statements on dsn and fails the test on error.
func Exec(t testing.TB, dsn string, sql ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	for _, s := range sql {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("exec %q: %v", s, err)
		}
	}
}
