package cdc

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// msg builds pgoutput messages for tests.
type msg []byte

func (m msg) u8(v byte) msg { return append(m, v) }
func (m msg) u16(v uint16) msg {
	return binary.BigEndian.AppendUint16(m, v)
}
func (m msg) u32(v uint32) msg { return binary.BigEndian.AppendUint32(m, v) }
func (m msg) u64(v uint64) msg { return binary.BigEndian.AppendUint64(m, v) }
func (m msg) str(s string) msg { return append(append(m, s...), 0) }

// text appends a text column value ('n' for nil).
func (m msg) text(v any) msg {
	switch v := v.(type) {
	case nil:
		return m.u8('n')
	case Unchanged:
		return m.u8('u')
	case string:
		return m.u8('t').u32(uint32(len(v))).bytesOf(v)
	}
	panic("unsupported")
}
func (m msg) bytesOf(s string) msg { return append(m, s...) }

// benchColumns is a typical table.
var benchColumns = []Column{
	{Name: "id", TypeOID: pgtype.Int8OID, Key: true},
	{Name: "email", TypeOID: pgtype.TextOID},
	{Name: "created_at", TypeOID: pgtype.TimestamptzOID},
	{Name: "balance", TypeOID: pgtype.NumericOID},
	{Name: "active", TypeOID: pgtype.BoolOID},
	{Name: "meta", TypeOID: pgtype.JSONBOID},
	{Name: "tags", TypeOID: pgtype.TextArrayOID},
	{Name: "nothing", TypeOID: pgtype.Int4OID},
}

var benchValues = []any{"1234567", "someone@example.com", "2026-11-29 03:00:00.123456+00", "1234.50", "t", `{"plan": "pro", "seats": 5}`, "{a,b,c}", nil}

func relationMsg(id uint32, cols []Column) msg {
	m := msg{'R'}.u32(id).str("public").str("users").u8('d').u16(uint16(len(cols)))
	for _, c := range cols {
		var flags byte
		if c.Key {
			flags = 1
		}
		m = m.u8(flags).str(c.Name).u32(c.TypeOID).u32(^uint32(0))
	}
	return m
}

func tupleMsg(m msg, values []any) msg {
	m = m.u16(uint16(len(values)))
	for _, v := range values {
		m = m.text(v)
	}
	return m
}

func insertMsg(id uint32, values []any) msg { return tupleMsg(msg{'I'}.u32(id).u8('N'), values) }

func beginMsg(lsn uint64) msg { return msg{'B'}.u64(lsn).u64(0).u32(7) }

func commitMsg(lsn, end uint64) msg { return msg{'C'}.u8(0).u64(lsn).u64(end).u64(0) }

func TestDecodeMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newDecoder(newTypeResolver(nil))
	steps := []msg{relationMsg(1, benchColumns), beginMsg(100), insertMsg(1, benchValues),
		tupleMsg(tupleMsg(msg{'U'}.u32(1).u8('O'), benchValues).u8('N'), append([]any{"1", Unchanged{}}, benchValues[2:]...)),
		msg{'M'}.u8(1).u64(5).str("walhook").u32(4).bytesOf("skip"),
		msg{'M'}.u8(0).u64(5).str("walhook.heartbeat").u32(0),
		commitMsg(100, 120)}
	var out []any
	for _, m := range steps {
		v, err := d.decode(ctx, m)
		if err != nil {
			t.Fatalf("decode %q: %v", m[0], err)
		}
		if v != nil {
			out = append(out, v)
		}
	}
	if len(out) != 5 {
		t.Fatalf("%d results: %#v", len(out), out)
	}
	if b := out[0].(*Begin); b.CommitLSN != 100 || b.Xid != 7 || !b.CommitTime.Equal(pgEpoch) {
		t.Fatalf("begin %+v", b)
	}
	ins := out[1].(*Change)
	want := Row{int64(1234567), "someone@example.com", time.Date(2026, 11, 29, 3, 0, 0, 123456000, time.UTC),
		json.Number("1234.50"), true, json.RawMessage(`{"plan": "pro", "seats": 5}`), []any{"a", "b", "c"}, nil}
	if !reflect.DeepEqual(ins.New, want) || ins.Index != 0 || ins.Kind != Insert {
		t.Fatalf("insert %#v", ins)
	}
	upd := out[2].(*Change)
	if upd.OldIsKey || !reflect.DeepEqual(upd.Old, want) || upd.New[1] != (Unchanged{}) || upd.Index != 1 {
		t.Fatalf("update %#v", upd)
	}
	if m := out[3].(*Change); m.Kind != Message || m.Prefix != "walhook" || string(m.Content) != "skip" || m.Index != 2 {
		t.Fatalf("message %#v", m)
	}
	if c := out[4].(*Commit); c.CommitLSN != 100 || c.EndLSN != 120 {
		t.Fatalf("commit %+v", c)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := map[string][]msg{
		"short begin":          {msg{'B'}.u32(1)},
		"unknown relation":     {beginMsg(1), insertMsg(9, benchValues)},
		"change outside txn":   {relationMsg(1, benchColumns), insertMsg(1, benchValues)},
		"column count":         {relationMsg(1, benchColumns), beginMsg(1), insertMsg(1, benchValues[:2])},
		"unknown message":      {msg{'Z'}},
		"commit without begin": {commitMsg(1, 2)},
	}
	for name, steps := range cases {
		d := newDecoder(newTypeResolver(nil))
		var err error
		for _, m := range steps {
			if _, err = d.decode(ctx, m); err != nil {
				break
			}
		}
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestNumericValue(t *testing.T) {
	t.Parallel()
	cases := map[string]any{
		"0":                     json.Number("0"),
		"-0.000":                json.Number("-0.000"),
		"1.1":                   json.Number("1.1"),
		"9007199254740993":      "9007199254740993", // 2^53+1
		"9007199254740992":      json.Number("9007199254740992"),
		"0.1000000000000000055": "0.1000000000000000055",
		"100000000000000000000": json.Number("100000000000000000000"),
		"Infinity":              "Infinity",
		"-12.50":                json.Number("-12.50"),
	}
	for in, want := range cases {
		if got := numericValue([]byte(in)); got != want {
			t.Errorf("numeric %s = %#v, want %#v", in, got, want)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to the pgoutput decoder (after a valid
// Relation and Begin, so that tuples get decoded) and to every value
// decoder: nothing may panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(insertMsg(1, benchValues)))
	f.Add([]byte(tupleMsg(tupleMsg(msg{'U'}.u32(1).u8('K'), benchValues).u8('N'), benchValues)))
	f.Add([]byte(relationMsg(2, benchColumns)))
	f.Add([]byte(msg{'T'}.u32(1).u8(0).u32(1)))
	f.Add([]byte(msg{'M'}.u8(1).u64(5).str("walhook").u32(4).bytesOf("skip")))
	f.Add([]byte(commitMsg(1, 2)))
	f.Add([]byte(`{{1,2},{"a\"b",NULL}}`))
	f.Add([]byte(`[1:2]={1,2}`))
	ctx := context.Background()
	tr := newTypeResolver(nil)
	var decs []valueDecoder
	for _, oid := range []uint32{pgtype.Int8OID, pgtype.Float8OID, pgtype.NumericOID, pgtype.BoolOID, pgtype.JSONBOID,
		pgtype.TimestamptzOID, pgtype.TimestampOID, pgtype.ByteaOID, pgtype.Int4ArrayOID, pgtype.TextArrayOID, pgtype.NumericArrayOID, pgtype.BoxArrayOID} {
		d, err := tr.decoder(ctx, oid, 0)
		if err != nil {
			f.Fatal(err)
		}
		decs = append(decs, d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := newDecoder(tr)
		for _, m := range []msg{relationMsg(1, benchColumns), beginMsg(1)} {
			if _, err := d.decode(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		_, _ = d.decode(ctx, data)
		for _, dec := range decs {
			v := dec(data)
			if _, err := json.Marshal(v); err != nil {
				t.Fatalf("value %#v from %q does not encode: %v", v, data, err)
			}
		}
	})
}

func BenchmarkDecodeInsert(b *testing.B) {
	ctx := context.Background()
	d := newDecoder(newTypeResolver(nil))
	if _, err := d.decode(ctx, relationMsg(1, benchColumns)); err != nil {
		b.Fatal(err)
	}
	if _, err := d.decode(ctx, beginMsg(1)); err != nil {
		b.Fatal(err)
	}
	m := insertMsg(1, benchValues)
	b.ReportAllocs()
	b.SetBytes(int64(len(m)))
	for b.Loop() {
		if _, err := d.decode(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeInsertIntText(b *testing.B) {
	ctx := context.Background()
	d := newDecoder(newTypeResolver(nil))
	cols := []Column{{Name: "id", TypeOID: pgtype.Int8OID}, {Name: "name", TypeOID: pgtype.TextOID}, {Name: "n", TypeOID: pgtype.Int4OID}}
	if _, err := d.decode(ctx, relationMsg(1, cols)); err != nil {
		b.Fatal(err)
	}
	if _, err := d.decode(ctx, beginMsg(1)); err != nil {
		b.Fatal(err)
	}
	m := insertMsg(1, []any{"1234567", "a name", "42"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.decode(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}
