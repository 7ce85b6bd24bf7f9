package cdc

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
)

// Querier runs plain SQL: a *pgx.Conn, a pgx.Tx or a *pgxpool.Pool.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// SessionSettings are the run-time parameters of the stream's session, on
// which the text of dates, times, intervals and bytea depends. A session
// that reads rows for a RowDecoder should use them too (SET LOCAL in its
// transaction), so that its values read exactly as the stream's.
var SessionSettings = map[string]string{
	"DateStyle":     "ISO, MDY",
	"IntervalStyle": "postgres",
	"TimeZone":      "UTC",
	"bytea_output":  "hex",
}

// RowDecoder reads a row with plain SQL and returns it as the stream would
// have delivered it: a Relation whose columns are the query's, in its
// order, and a Row of the same typed values (see Row), so that an event
// built from a row read by key looks exactly like one built from the WAL.
// It is safe for concurrent use; it remembers each type's decoder.
type RowDecoder struct {
	mu    sync.Mutex
	types *typeResolver
	q     Querier // for pg_type lookups, during Read
}

// NewRowDecoder returns a RowDecoder.
func NewRowDecoder() *RowDecoder {
	d := &RowDecoder{}
	d.types = newTypeResolver(d.lookupType)
	return d
}

// Read runs sql with args on q, which must return at most one row, reads
// it in text format and decodes it. Columns named in key are marked as the
// replica identity. found is false when the query returns no row.
func (d *RowDecoder) Read(ctx context.Context, q Querier, schema, table string, key map[string]bool, sql string, args ...any) (rel *Relation, row Row, found bool, err error) {
	rows, err := q.Query(ctx, sql, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, args...)...)
	if err != nil {
		return nil, nil, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, nil, false, rows.Err()
	}
	fields := rows.FieldDescriptions()
	rel = &Relation{Schema: schema, Name: table, Columns: make([]Column, len(fields))}
	for i, f := range fields {
		rel.Columns[i] = Column{Name: f.Name, TypeOID: f.DataTypeOID, TypeMod: f.TypeModifier, Key: key[f.Name]}
	}
	raw := rows.RawValues()
	values := make([][]byte, len(raw))
	for i, v := range raw {
		if v != nil {
			values[i] = append([]byte{}, v...) // RawValues is reused by the next row
		}
	}
	if rows.Next() {
		return nil, nil, false, errors.New("read row: the query returned more than one row")
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.q = q
	defer func() { d.q = nil }()
	if rel.dec, err = d.types.columnDecoders(ctx, rel.Columns); err != nil {
		return nil, nil, false, fmt.Errorf("read row: %w", err)
	}
	row = make(Row, len(values))
	for i, v := range values {
		if v != nil {
			row[i] = rel.dec[i](v)
		}
	}
	return rel, row, true, nil
}

// lookupType reads a type's pg_type row through the Querier of the Read
// in progress.
func (d *RowDecoder) lookupType(ctx context.Context, oid uint32) (pgType, error) {
	return readPGType(ctx, d.q, oid)
}
