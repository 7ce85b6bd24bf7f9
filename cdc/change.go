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
