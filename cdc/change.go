package cdc

import (
	"time"

	"github.com/jackc/pglogrepl"
)

// LSN is a position in the write-ahead log.
type LSN = pglogrepl.LSN

// Column describes one column of a Relation as the server announced it.
type Column struct {
	Name string
	// TypeOID is the column's type as sent by the server (for a domain, the
	// domain's own OID).
	TypeOID uint32
	// TypeMod is the type modifier (atttypmod), -1 when none.
	TypeMod int32
	// Key is true when the column is part of the replica identity.
	Key bool
}

// Relation is a table as the server described it in its latest Relation
// message. A Relation is immutable: when the table changes (ALTER TABLE),
// the stream announces a new Relation and later changes point at it, while
// earlier changes keep the one they were decoded with.
type Relation struct {
	ID      uint32
	Schema  string
	Name    string
	Columns []Column
	// ReplicaIdentity is 'd' (default: primary key), 'n' (nothing), 'f'
	// (full) or 'i' (index).
	ReplicaIdentity byte

	dec []valueDecoder // per column, chosen once when the Relation arrives
}

// QualifiedName returns "schema.name".
func (r *Relation) QualifiedName() string { return r.Schema + "." + r.Name }

// ColumnIndex returns the index of the named column, or -1.
func (r *Relation) ColumnIndex(name string) int {
	for i, c := range r.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// Unchanged stands in a Row for a TOASTed value that the server did not send
// because it did not change. It is never null and never "".
type Unchanged struct{}

// Row holds one tuple's values, aligned with its Relation's Columns.
//
// Values are typed Go values ready for encoding/json: nil for NULL; int64,
// float64, bool, string; json.Number for numeric values exact in a float64
// and string beyond that; json.RawMessage for json/jsonb; []byte for bytea
// (base64 in JSON); time.Time for timestamptz and timestamp (UTC); string for
// date, time, timetz, interval, uuid, enums and any type without a richer
// mapping; []any for arrays; Unchanged for an unchanged TOAST value. A domain
// is decoded as its base type.
//
// In detail (the replication session runs with DateStyle ISO, IntervalStyle
// postgres and TimeZone UTC, so these texts do not depend on the server's
// settings):
//
//   - smallint, integer, bigint, oid, xid: int64.
//   - real, double precision: float64; NaN, Infinity and -Infinity, which
//     JSON cannot hold, as the strings "NaN", "Infinity", "-Infinity".
//   - numeric: json.Number holding PostgreSQL's text unchanged (so "1.50"
//     keeps its scale) when a float64 holds exactly that decimal value, else
//     the same text as a string (also "NaN", "Infinity", "-Infinity").
//   - boolean: bool.
//   - text, varchar, char(n) (blank-padded as stored), name, "char", citext,
//     uuid ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), enums: string.
//   - json, jsonb: json.RawMessage of the server's text (jsonb normalised by
//     the server: `{"a": 1, "b": 2}`), checked to be JSON.
//   - date: string "2026-11-29" (" BC" appended before year 1).
//   - time: string "15:04:05" with up to 6 fractional digits when non-zero
//     ("15:04:05.123"); timetz the same followed by the offset ("+02",
//     "+05:30").
//   - interval: string in PostgreSQL's own form, e.g.
//     "1 year 2 mons 3 days 04:05:06.5", "-00:00:01", "00:00:00".
//   - timestamptz, timestamp: time.Time in UTC (a timestamp without time
//     zone is read as UTC); "infinity", "-infinity" and years outside
//     0-9999, which RFC 3339 cannot write, as PostgreSQL's text.
//   - bytea: []byte (never nil; base64 in JSON).
//   - arrays of any of these, one or more dimensions: []any of element
//     values, nested per dimension, NULL elements nil; explicit lower bounds
//     are dropped.
//   - any other type (ranges, composites, geometric, network, extension
//     types): string in PostgreSQL's text form.
//
// A value that cannot be read as its type (not expected from the server) is
// kept as its text, a string, rather than stopping the stream.
type Row []any

// Kind says what a Change is.
type Kind uint8

// Kinds of change.
const (
	Insert Kind = iota + 1
	Update
	Delete
	Truncate
	Message
)

func (k Kind) String() string {
	switch k {
	case Insert:
		return "insert"
	case Update:
		return "update"
	case Delete:
		return "delete"
	case Truncate:
		return "truncate"
	case Message:
		return "message"
	}
	return "unknown"
}

// Change is one decoded item of a committed transaction.
type Change struct {
	Kind Kind
	// Index is the change's position in its transaction, from 0.
	Index int
	// Relation is the table, for Insert, Update and Delete.
	Relation *Relation
	// New is the new row (Insert, Update).
	New Row
	// Old is the old row when the server sent one: for Update and Delete,
	// the replica identity columns (other columns nil) or, with REPLICA
	// IDENTITY FULL, the whole row. OldIsKey tells which.
	Old      Row
	OldIsKey bool
	// Relations are the truncated tables (Truncate).
	Relations []*Relation
	// Prefix and Content are a logical message's (Message); only
	// transactional messages reach a Handler as Changes.
	Prefix  string
	Content []byte
}

// Begin opens a transaction in the stream.
type Begin struct {
	Xid uint32
	// CommitLSN is the LSN of the transaction's commit record: with the
	// change index it identifies a change for ever.
	CommitLSN  LSN
	CommitTime time.Time
}

// Commit closes the transaction opened by the previous Begin.
type Commit struct {
	CommitLSN LSN
	// EndLSN is the end of the commit record: the position to acknowledge
	// once the transaction is settled.
	EndLSN     LSN
	CommitTime time.Time
}
