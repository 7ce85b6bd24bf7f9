package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one embedded SQL file, migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	out := make([]migration, 0, len(files))
	for _, f := range files {
		base := strings.TrimPrefix(f, "migrations/")
		num, name, ok := strings.Cut(strings.TrimSuffix(base, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration file %s: name must be NNNN_name.sql", base)
		}
		body, err := migrationFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// Migrate creates the schema when missing and applies every embedded
// migration not yet recorded in <schema>.schema_migrations, in one
// transaction under an advisory lock: it is idempotent, and processes that
// start at once apply each migration exactly once (the others wait, then
// find nothing to do). A database migrated by a newer walhook is refused.
func (db *DB) Migrate(ctx context.Context) error {
	all, err := migrations()
	if err != nil {
		return fmt.Errorf("migrate schema %s: %w", db.schema, err)
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		return db.migrateTx(ctx, tx, all)
	})
	if err != nil {
		return fmt.Errorf("migrate schema %s: %w", db.schema, err)
	}
	return nil
}

func (db *DB) migrateTx(ctx context.Context, tx pgx.Tx, all []migration) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('walhook.migrate:' || $1, 0))`, db.schema); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	setup := db.render(`CREATE SCHEMA IF NOT EXISTS {{schema}};
CREATE TABLE IF NOT EXISTS {{schema}}.schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`)
	if _, err := tx.Exec(ctx, setup); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	var current int
	err := tx.QueryRow(ctx, db.render(`SELECT coalesce(max(version), 0) FROM {{schema}}.schema_migrations`)).Scan(&current)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if latest := all[len(all)-1].version; current > latest {
		return fmt.Errorf("schema is at version %d, newer than this walhook knows (%d): run a newer walhook", current, latest)
	}
	for _, m := range all {
		if m.version <= current {
			continue
		}
		if _, err := tx.Exec(ctx, db.render(m.sql)); err != nil {
			return fmt.Errorf("apply migration %04d_%s: %w", m.version, m.name, err)
		}
		_, err := tx.Exec(ctx, db.render(`INSERT INTO {{schema}}.schema_migrations (version, name) VALUES ($1, $2)`), m.version, m.name)
		if err != nil {
			return fmt.Errorf("record migration %04d_%s: %w", m.version, m.name, err)
		}
	}
	return nil
}

// SchemaVersion returns the newest applied migration (0 when none).
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.pool.QueryRow(ctx, db.render(`SELECT coalesce(max(version), 0) FROM {{schema}}.schema_migrations`)).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
