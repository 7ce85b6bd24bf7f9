package cdc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walhook/walhook/internal/pgcluster"
	"github.com/walhook/walhook/internal/pgtest"
)

func publicationTables(t *testing.T, conn *pgx.Conn, pub string) string {
	t.Helper()
	var s string
	err := conn.QueryRow(context.Background(), `SELECT coalesce(string_agg(schemaname || '.' || tablename, ',' ORDER BY schemaname, tablename), '') FROM pg_publication_tables WHERE pubname = $1`, pub).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPrepareIsIdempotentAndAlignsPublication(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	ctx := context.Background()
	conn := connect(t, dsn)
	slot := slotFor(t, dsn)
	pgtest.Exec(t, dsn,
		`CREATE SCHEMA "Odd Schema"`,
		`CREATE TABLE a (id int PRIMARY KEY)`,
		`CREATE TABLE b (id int PRIMARY KEY)`,
		`CREATE TABLE "Odd Schema"."Mixed Case" (id int PRIMARY KEY)`,
		`CREATE PUBLICATION "my pub" FOR TABLE a, b WITH (publish = 'insert')`)
	opts := SetupOptions{Slot: slot, Publication: "my pub", Tables: []string{"public.a", "Odd Schema.Mixed Case"}}
	first, err := Prepare(ctx, dsn, opts)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if got := publicationTables(t, conn, "my pub"); got != "Odd Schema.Mixed Case,public.a" {
		t.Fatalf("publication tables after Prepare: %s", got)
	}
	var ops string
	if err := conn.QueryRow(ctx, `SELECT concat(pubinsert, pubupdate, pubdelete, pubtruncate) FROM pg_publication WHERE pubname = 'my pub'`).Scan(&ops); err != nil || ops != "tttt" {
		t.Fatalf("published operations %q (%v)", ops, err)
	}
	second, err := Prepare(ctx, dsn, opts)
	if err != nil || second != first {
		t.Fatalf("second Prepare: %s, %v; first %s", second, err, first)
	}
	opts.Tables = nil
	if _, err := Prepare(ctx, dsn, opts); err != nil {
		t.Fatalf("Prepare with no tables: %v", err)
	}
	if got := publicationTables(t, conn, "my pub"); got != "" {
		t.Fatalf("publication tables with none configured: %s", got)
	}
}

func TestPrepareRefuses(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	ctx := context.Background()
	slot := slotFor(t, dsn)
	pgtest.Exec(t, dsn,
		`CREATE TABLE a (id int PRIMARY KEY)`,
		fmt.Sprintf(`SELECT pg_create_logical_replication_slot('%s_td', 'test_decoding')`, slot),
		`CREATE PUBLICATION everything FOR ALL TABLES`)
	cases := []struct {
		name string
		opts SetupOptions
		want string
	}{
		{"unqualified table", SetupOptions{Slot: slot, Publication: "p", Tables: []string{"a"}}, "schema-qualified"},
		{"missing table", SetupOptions{Slot: slot, Publication: "p", Tables: []string{"public.nope"}}, "does not exist"},
		{"bad slot name", SetupOptions{Slot: "Bad-Slot", Publication: "p"}, "lower-case"},
		{"other plugin", SetupOptions{Slot: slot + "_td", Publication: "p", Tables: []string{"public.a"}}, "test_decoding"},
		{"all tables", SetupOptions{Slot: slot, Publication: "everything", Tables: []string{"public.a"}}, "FOR ALL TABLES"},
	}
	for _, c := range cases {
		_, err := Prepare(ctx, dsn, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

func TestCheckReportsProblems(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	role := slotFor(t, dsn) + "_norepl"
	pgtest.Exec(t, dsn,
		`CREATE TABLE users (id int PRIMARY KEY, email text, name text)`,
		`ALTER TABLE users REPLICA IDENTITY FULL`,
		`CREATE TABLE orders (a int, b int, c int, PRIMARY KEY (b, a))`,
		`CREATE TABLE nokey (x int)`,
		fmt.Sprintf(`CREATE ROLE %s LOGIN NOREPLICATION`, role),
	)
	t.Cleanup(func() { pgtest.Exec(t, pgtest.Server(t), `DROP ROLE IF EXISTS `+role) })
	ctx := context.Background()
	rep, err := Check(ctx, dsn, map[string][]string{"public.users": {"id", "emial"}, "public.orders": nil, "public.nokey": {"x"}, "public.user": nil})
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("Check error %v, want *CheckError", err)
	}
	msg := err.Error()
	for _, want := range []string{`no column "emial" (did you mean "email"?)`, `public.user does not exist (did you mean "public.users"?)`, "public.nokey has no primary key", "REPLICA IDENTITY FULL"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
	if len(ce.Problems) != 3 {
		t.Errorf("%d problems, want 3: %q", len(ce.Problems), ce.Problems)
	}
	if u := rep.Tables["public.users"]; !u.Exists || !u.OldValuesKnown() || fmt.Sprint(u.Columns) != "[id email name]" {
		t.Errorf("users: %+v", u)
	}
	if o := rep.Tables["public.orders"]; o.ReplicaIdentity != 'd' || o.OldValuesKnown() || fmt.Sprint(o.PrimaryKey) != "[b a]" {
		t.Errorf("orders: %+v", o)
	}
	if rep.WALLevel != "logical" || !rep.Replication {
		t.Errorf("server: %+v", rep)
	}

	rep, err = Check(ctx, strings.Replace(dsn, "postgres@", role+"@", 1), map[string][]string{"public.users": {"id"}})
	if err == nil || !strings.Contains(err.Error(), "ALTER ROLE "+`"`+role+`"`+" REPLICATION") || rep.Replication {
		t.Errorf("role without REPLICATION: %v", err)
	}
}

// startCluster starts a throwaway server of the test's own.
func startCluster(t *testing.T, settings map[string]string) *pgcluster.Cluster {
	t.Helper()
	pgtest.Server(t) // skips without PostgreSQL, like every other test
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Settings: settings})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

func TestCheckReportsWALLevel(t *testing.T) {
	t.Parallel()
	c := startCluster(t, map[string]string{"wal_level": "replica"})
	_, err := Check(context.Background(), c.DSN("postgres"), nil)
	if err == nil || !strings.Contains(err.Error(), "ALTER SYSTEM SET wal_level = logical") {
		t.Fatalf("Check on wal_level=replica: %v", err)
	}
}

func TestLostSlotIsRefused(t *testing.T) {
	t.Parallel()
	c := startCluster(t, map[string]string{"max_slot_wal_keep_size": "1MB", "wal_keep_size": "0"})
	dsn := c.DSN("postgres")
	ctx := context.Background()
	pgtest.Exec(t, dsn, `CREATE TABLE t (id serial PRIMARY KEY, pad text)`)
	opts := SetupOptions{Slot: "walhook", Publication: "walhook", Tables: []string{"public.t"}}
	start, err := Prepare(ctx, dsn, opts)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	conn := connect(t, dsn)
	for i := 0; ; i++ {
		var status string
		if err := conn.QueryRow(ctx, `SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'walhook'`).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status == "lost" {
			break
		}
		if i == 50 {
			t.Fatalf("slot still %s after generating WAL", status)
		}
		mustExec(t, conn, `INSERT INTO t (pad) SELECT repeat('x', 100) FROM generate_series(1, 1000)`)
		mustExec(t, conn, `SELECT pg_switch_wal()`)
		mustExec(t, conn, `CHECKPOINT`)
	}
	_, err = Prepare(ctx, dsn, opts)
	var lost *SlotLostError
	if !errors.As(err, &lost) {
		t.Fatalf("Prepare on a lost slot: %v, want *SlotLostError", err)
	}
	for _, want := range []string{"invalidated", "removed WAL", "max_slot_wal_keep_size", "cannot be recovered", "SELECT pg_drop_replication_slot('walhook')"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	runCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = NewStream(StreamOptions{DSN: dsn, Slot: "walhook", Publication: "walhook", Start: start}).Run(runCtx, newRecorder())
	if !errors.As(err, &lost) {
		t.Fatalf("Run on a lost slot: %v, want *SlotLostError", err)
	}
}
