package store

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/walhook/walhook/internal/pgtest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	ctx := context.Background()
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	all, _ := migrations()
	v, err := db.SchemaVersion(ctx)
	if err != nil || v != all[len(all)-1].version {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, all[len(all)-1].version)
	}
	if n := scalar[int](t, db, `SELECT count(*) FROM {{schema}}.schema_migrations`); n != len(all) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(all))
	}
	if n := scalar[int](t, db, `SELECT count(*) FROM {{schema}}.control`); n != 1 {
		t.Fatalf("control has %d rows, want 1", n)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	ctx := context.Background()
	dbs := make([]*DB, 4)
	for i := range dbs {
		db, err := Open(ctx, dsn, "walhook", Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		dbs[i] = db
	}
	var wg sync.WaitGroup
	errs := make([]error, len(dbs))
	for i, db := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Migrate(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}
	all, _ := migrations()
	if n := scalar[int](t, dbs[0], `SELECT count(*) FROM {{schema}}.schema_migrations`); n != len(all) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(all))
	}
}

func TestMigrateCustomSchema(t *testing.T) {
	t.Parallel()
	db := openDSN(t, pgtest.NewDB(t), "Hooks_2", Options{})
	for _, rel := range []string{"subscribers", "subscriptions", "delivery_log", "retry_queue", "control", "subscribers_v"} {
		if got := scalar[bool](t, db, `SELECT to_regclass($1) IS NOT NULL`, `"Hooks_2".`+rel); !got {
			t.Errorf("relation %s missing from schema Hooks_2", rel)
		}
	}
	want := []string{"Hooks_2.subscribers", "Hooks_2.subscriptions", "Hooks_2.control"}
	if got := db.PublishedTables(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("PublishedTables = %v, want %v", got, want)
	}
	ident := scalar[string](t, db, `SELECT string_agg(relname || ':' || relreplident::text, ',' ORDER BY relname) FROM pg_class
WHERE relnamespace = '"Hooks_2"'::regnamespace AND relname IN ('subscribers', 'subscriptions', 'control', 'delivery_log', 'retry_queue')`)
	if ident != "control:f,delivery_log:d,retry_queue:d,subscribers:f,subscriptions:f" {
		t.Errorf("replica identities = %s", ident)
	}
}

func TestOpenRefusesBadSchemaName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "a.b", `x"y`, "1abc", "has space", strings.Repeat("a", 64)} {
		_, err := Open(context.Background(), "postgres://localhost/none", name, Options{})
		if err == nil || !strings.Contains(err.Error(), "plain identifier") {
			t.Errorf("Open(schema %q) = %v, want a plain-identifier error", name, err)
		}
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	exec(t, db, `INSERT INTO {{schema}}.schema_migrations (version, name) VALUES (9999, 'future')`)
	err := db.Migrate(context.Background())
	if err == nil || !strings.Contains(err.Error(), "newer than this walhook") {
		t.Fatalf("Migrate = %v, want a newer-schema error", err)
	}
}
