package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/router"
)

var (
	_ router.RowReader = (*DB)(nil)
	_ router.RowReader = (*Rows)(nil)
)

// Rows reads rows of the application's database by key, for custom events
// and manual sends. Use it when walhook's state lives in another database
// than the source; otherwise DB.ReadRow does the same on the state pool.
type Rows struct {
	pool *pgxpool.Pool
	dec  *cdc.RowDecoder
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
	return &Rows{pool: pool, dec: cdc.NewRowDecoder()}, nil
}

// Close closes the pool.
func (r *Rows) Close() { r.pool.Close() }

// ReadRow implements router.RowReader on the source database.
func (r *Rows) ReadRow(ctx context.Context, table string, key map[string]any) (*cdc.Relation, cdc.Row, bool, error) {
	return readRow(ctx, r.pool, r.dec, table, key)
}

// ReadRow implements router.RowReader on the state database, for the usual
// case where it is the application's database too.
func (db *DB) ReadRow(ctx context.Context, table string, key map[string]any) (*cdc.Relation, cdc.Row, bool, error) {
	return readRow(ctx, db.pool, db.rowDec, table, key)
}

// sessionSQL gives a read-only transaction the stream's session settings
// (cdc.SessionSettings), so that dates, intervals and bytea read the same.
var sessionSQL = func() string {
	names := make([]string, 0, len(cdc.SessionSettings))
	for k := range cdc.SessionSettings {
		names = append(names, k)
	}
	sort.Strings(names)
	sets := make([]string, len(names))
	for i, k := range names {
		sets[i] = fmt.Sprintf("set_config('%s', '%s', true)", k, cdc.SessionSettings[k])
	}
	return "SELECT " + strings.Join(sets, ", ")
}()

// readRow reads the row of table (schema-qualified) whose key columns equal
// key, as the stream would have delivered it (cdc.RowDecoder: the table's
// columns in order, typed values). The key's JSON values are converted to
// the columns' types by jsonb_populate_record, so {"id": 456} and
// {"id": "456"} both match an integer id and the lookup can use the
// primary key index. found is false when no row matches.
func readRow(ctx context.Context, pool *pgxpool.Pool, dec *cdc.RowDecoder, table string, key map[string]any) (*cdc.Relation, cdc.Row, bool, error) {
	sql, arg, err := readRowSQL(table, key)
	if err != nil {
		return nil, nil, false, err
	}
	schema, name, _ := strings.Cut(table, ".")
	isKey := make(map[string]bool, len(key))
	for k := range key {
		isKey[k] = true
	}
	var (
		rel   *cdc.Relation
		row   cdc.Row
		found bool
	)
	err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sessionSQL); err != nil {
			return err
		}
		var err error
		rel, row, found, err = dec.Read(ctx, tx, schema, name, isKey, sql, arg)
		return err
	})
	if err != nil {
		return nil, nil, false, fmt.Errorf("read row of %s by key %s: %w", table, arg, err)
	}
	return rel, row, found, nil
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
	sql := fmt.Sprintf(`SELECT t.* FROM %s t WHERE (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%s, $1::jsonb) r) LIMIT 1`,
		rel, strings.Join(left, ", "), strings.Join(right, ", "), rel)
	return sql, arg, nil
}
