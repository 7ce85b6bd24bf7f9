package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walhook/walhook/router"
)

var (
	_ router.RowReader = (*DB)(nil)
	_ router.RowReader = (*Rows)(nil)
	_ router.Holder    = (*DB)(nil)
)

// Rows reads rows of the application's database by key, for custom events
// and manual sends. Use it when walhook's state lives in another database
// than the source; otherwise DB.ReadRow does the same on the state pool.
type Rows struct {
	pool *pgxpool.Pool
}

// OpenRows connects to the application's database (a small pool). Close
// releases it.
func OpenRows(ctx context.Context, dsn string) (*Rows, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open source database for row reads: parse DSN: %w", err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open source database for row reads: %w", err)
	}
	return &Rows{pool: pool}, nil
}

// Close closes the pool.
func (r *Rows) Close() { r.pool.Close() }

// ReadRow implements router.RowReader on the source database.
func (r *Rows) ReadRow(ctx context.Context, table string, key map[string]any) (map[string]any, bool, error) {
	return readRow(ctx, r.pool, table, key)
}

// ReadRow implements router.RowReader on the state database, for the usual
// case where it is the application's database too.
func (db *DB) ReadRow(ctx context.Context, table string, key map[string]any) (map[string]any, bool, error) {
	return readRow(ctx, db.pool, table, key)
}

// readRow reads the row of table (schema-qualified) whose key columns equal
// key. The key's JSON values are converted to the columns' types by
// jsonb_populate_record, so {"id": 456} and {"id": "456"} both match an
// integer id and the lookup can use the primary key index. The row is
// row_to_json decoded with UseNumber. found is false when no row matches.
func readRow(ctx context.Context, pool *pgxpool.Pool, table string, key map[string]any) (map[string]any, bool, error) {
	sql, arg, err := readRowSQL(table, key)
	if err != nil {
		return nil, false, err
	}
	var raw []byte
	err = pool.QueryRow(ctx, sql, arg).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read row of %s by key %s: %w", table, arg, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var row map[string]any
	if err := dec.Decode(&row); err != nil {
		return nil, false, fmt.Errorf("read row of %s: decode: %w", table, err)
	}
	return row, true, nil
}

func readRowSQL(table string, key map[string]any) (string, []byte, error) {
	schema, name, ok := strings.Cut(table, ".")
	if !ok || schema == "" || name == "" {
		return "", nil, fmt.Errorf("read row: table %q must be schema-qualified, like public.orders", table)
	}
	if len(key) == 0 {
		return "", nil, fmt.Errorf("read row of %s: the key is empty; give the primary key columns, like {\"id\": 456}", table)
	}
	cols := make([]string, 0, len(key))
	for c := range key {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	rel := pgx.Identifier{schema, name}.Sanitize()
	var left, right []string
	for _, c := range cols {
		q := pgx.Identifier{c}.Sanitize()
		left = append(left, "t."+q)
		right = append(right, "r."+q)
	}
	arg, err := json.Marshal(key)
	if err != nil {
		return "", nil, fmt.Errorf("read row of %s: encode key: %w", table, err)
	}
	sql := fmt.Sprintf(`SELECT row_to_json(t)::text FROM %s t WHERE (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%s, $1::jsonb) r) LIMIT 1`,
		rel, strings.Join(left, ", "), strings.Join(right, ", "), rel)
	return sql, arg, nil
}
