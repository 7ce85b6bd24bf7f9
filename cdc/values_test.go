package cdc

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgtest"
)

// valueCases map a column type and SQL literal to the Go value and JSON
// walhook documents for it.
var valueCases = []struct {
	typ, literal string
	want         any
	json         string
}{
	{"int2", "12", int64(12), `12`},
	{"int4", "-5", int64(-5), `-5`},
	{"int8", "9223372036854775807", int64(math.MaxInt64), `9223372036854775807`},
	{"int4", "NULL", nil, `null`},
	{"float4", "1.5", 1.5, `1.5`},
	{"float8", "0.1", 0.1, `0.1`},
	{"float8", "'NaN'", "NaN", `"NaN"`},
	{"float8", "'-Infinity'", "-Infinity", `"-Infinity"`},
	{"numeric", "123.4500", json.Number("123.4500"), `123.4500`},
	{"numeric(10,2)", "0.1", json.Number("0.10"), `0.10`},
	{"numeric", "12345678901234567890.123", "12345678901234567890.123", `"12345678901234567890.123"`},
	{"numeric", "'NaN'", "NaN", `"NaN"`},
	{"bool", "true", true, `true`},
	{"bool", "false", false, `false`},
	{"text", "'héllo \"q\"'", `héllo "q"`, `"héllo \"q\""`},
	{"varchar(5)", "'ab'", "ab", `"ab"`},
	{"char(3)", "'a'", "a  ", `"a  "`},
	{"name", "'nm'", "nm", `"nm"`},
	{`"char"`, "'x'", "x", `"x"`},
	{"citext", "'MiXed'", "MiXed", `"MiXed"`},
	{"uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
	{"json", `'{"a": [1, 2]}'`, json.RawMessage(`{"a": [1, 2]}`), `{"a":[1,2]}`},
	{"jsonb", `'{"b":1,"a":"x"}'`, json.RawMessage(`{"a": "x", "b": 1}`), `{"a":"x","b":1}`},
	{"date", "'2026-11-29'", "2026-11-29", `"2026-11-29"`},
	{"time", "'03:04:05.123'", "03:04:05.123", `"03:04:05.123"`},
	{"timetz", "'03:04:05+02'", "03:04:05+02", `"03:04:05+02"`},
	{"interval", "'1 year 2 months 3 days 04:05:06'", "1 year 2 mons 3 days 04:05:06", `"1 year 2 mons 3 days 04:05:06"`},
	{"date", "'0044-03-15 BC'", "0044-03-15 BC", `"0044-03-15 BC"`},
	{"interval", "'-1 second'", "-00:00:01", `"-00:00:01"`},
	{"interval", "'1 day 00:00:00.5'", "1 day 00:00:00.5", `"1 day 00:00:00.5"`},
	{"timetz", "'01:02:03.5+05:30'", "01:02:03.5+05:30", `"01:02:03.5+05:30"`},
	{"timestamptz", "'0044-03-15 12:00:00+00 BC'", "0044-03-15 12:00:00+00 BC", `"0044-03-15 12:00:00+00 BC"`},
	{"timestamp", "'0001-01-01 00:00:00'", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), `"0001-01-01T00:00:00Z"`},
	{"timestamptz", "'2026-11-29 03:00:00.123456+01'", time.Date(2026, 11, 29, 2, 0, 0, 123456000, time.UTC), `"2026-11-29T02:00:00.123456Z"`},
	{"timestamp", "'2026-11-29 03:00:00'", time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC), `"2026-11-29T03:00:00Z"`},
	{"timestamptz", "'infinity'", "infinity", `"infinity"`},
	{"timestamp", "'-infinity'", "-infinity", `"-infinity"`},
	{"bytea", `'\xdeadbeef'`, []byte{0xde, 0xad, 0xbe, 0xef}, `"3q2+7w=="`},
	{"bytea", `''`, []byte{}, `""`},
	{"int4[]", "'{1,NULL,3}'", []any{int64(1), nil, int64(3)}, `[1,null,3]`},
	{"int4[]", "'{}'", []any{}, `[]`},
	{"int8[][]", "'{{1,2},{3,4}}'", []any{[]any{int64(1), int64(2)}, []any{int64(3), int64(4)}}, `[[1,2],[3,4]]`},
	{"int4[]", "'[0:1]={5,6}'", []any{int64(5), int64(6)}, `[5,6]`},
	{"text[]", `'{"a,b","NULL",NULL,"q\"x", plain }'`, []any{"a,b", "NULL", nil, `q"x`, "plain"}, `["a,b","NULL",null,"q\"x","plain"]`},
	{"numeric[]", "'{1.5,NaN}'", []any{json.Number("1.5"), "NaN"}, `[1.5,"NaN"]`},
	{"timestamptz[]", `'{"2026-01-02 03:04:05+00"}'`, []any{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, `["2026-01-02T03:04:05Z"]`},
	{"jsonb[]", `ARRAY['{"a":1}'::jsonb, '[]'::jsonb]`, []any{json.RawMessage(`{"a": 1}`), json.RawMessage(`[]`)}, `[{"a":1},[]]`},
	{"bool[]", "'{t,f}'", []any{true, false}, `[true,false]`},
	{"box[]", "'{(1,1),(0,0);(2,2),(1,1)}'", []any{"(1,1),(0,0)", "(2,2),(1,1)"}, `["(1,1),(0,0)","(2,2),(1,1)"]`},
	{"mood", "'happy'", "happy", `"happy"`},
	{"mood[]", "'{happy,sad}'", []any{"happy", "sad"}, `["happy","sad"]`},
	{"posint", "7", int64(7), `7`},
	{"posint[]", "'{7,8}'", []any{int64(7), int64(8)}, `[7,8]`},
	{"email", "'a@b.c'", "a@b.c", `"a@b.c"`},
	{"inet", "'10.0.0.1/8'", "10.0.0.1/8", `"10.0.0.1/8"`},
	{"point", "'(1,2)'", "(1,2)", `"(1,2)"`},
}

func TestValuesRoundTrip(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	cols := make([]string, len(valueCases))
	vals := make([]string, len(valueCases))
	for i, c := range valueCases {
		cols[i] = fmt.Sprintf("c%d %s", i, c.typ)
		vals[i] = c.literal
	}
	start := setup(t, dsn, []string{"public.v"},
		`CREATE EXTENSION citext`,
		`CREATE TYPE mood AS ENUM ('happy', 'sad')`,
		`CREATE DOMAIN posint AS int4 CHECK (VALUE > 0)`,
		`CREATE DOMAIN email AS citext`,
		`CREATE TABLE v (id int PRIMARY KEY, `+strings.Join(cols, ", ")+`)`)
	rec := newRecorder()
	run(t, StreamOptions{DSN: dsn, Start: start}, rec)
	pgtest.Exec(t, dsn, `INSERT INTO v VALUES (1, `+strings.Join(vals, ", ")+`)`)
	row := rec.waitTxns(t, 1)[0].Changes[0].New[1:]
	for i, c := range valueCases {
		t.Run(fmt.Sprintf("%s=%s", c.typ, c.literal), func(t *testing.T) {
			if !reflect.DeepEqual(row[i], c.want) {
				t.Errorf("value %#v (%T), want %#v (%T)", row[i], row[i], c.want, c.want)
			}
			got, err := json.Marshal(row[i])
			if err != nil {
				t.Fatalf("json: %v", err)
			}
			if string(got) != c.json {
				t.Errorf("json %s, want %s", got, c.json)
			}
		})
	}
}

func TestToastUnchangedAndReplicaIdentityFull(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	start := setup(t, dsn, []string{"public.doc", "public.fulltab"},
		`CREATE TABLE doc (id int PRIMARY KEY, body text, title text)`,
		`CREATE TABLE fulltab (id int PRIMARY KEY, a text, b int)`,
		`ALTER TABLE fulltab REPLICA IDENTITY FULL`)
	rec := newRecorder()
	run(t, StreamOptions{DSN: dsn, Start: start}, rec)
	// 100 kB of random (incompressible) text is stored out of line.
	pgtest.Exec(t, dsn,
		`INSERT INTO doc SELECT 1, string_agg(md5(random()::text), '') , 'a' FROM generate_series(1, 3200)`,
		`UPDATE doc SET title = 'b' WHERE id = 1`,
		`INSERT INTO fulltab VALUES (1, 'x', 2)`,
		`UPDATE fulltab SET b = 3`,
		`DELETE FROM fulltab`)
	txns := rec.waitTxns(t, 5)
	ins, upd := txns[0].Changes[0], txns[1].Changes[0]
	if body, _ := ins.New[1].(string); len(body) != 3200*32 {
		t.Fatalf("inserted body has %d bytes", len(body))
	}
	if upd.New[1] != (Unchanged{}) || upd.New[2] != "b" {
		t.Fatalf("update of toasted row: %#v", upd.New[1:])
	}
	fu, fd := txns[3].Changes[0], txns[4].Changes[0]
	if fu.OldIsKey || fmt.Sprint(fu.Old) != "[1 x 2]" || fmt.Sprint(fu.New) != "[1 x 3]" {
		t.Fatalf("full update: old %v (key %v) new %v", fu.Old, fu.OldIsKey, fu.New)
	}
	if fd.OldIsKey || fmt.Sprint(fd.Old) != "[1 x 3]" {
		t.Fatalf("full delete: old %v (key %v)", fd.Old, fd.OldIsKey)
	}
}

func TestAlterTableMidStream(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	start := setup(t, dsn, []string{"public.t"}, `CREATE TABLE t (id int PRIMARY KEY, a text)`)
	rec := newRecorder()
	run(t, StreamOptions{DSN: dsn, Start: start}, rec)
	pgtest.Exec(t, dsn,
		`INSERT INTO t VALUES (1, 'one')`,
		`ALTER TABLE t ADD COLUMN b int`,
		`INSERT INTO t VALUES (2, 'two', 22)`,
		`ALTER TABLE t DROP COLUMN a`,
		`INSERT INTO t VALUES (3, 33)`)
	txns := rec.waitTxns(t, 3)
	want := []struct{ cols, row string }{
		{"[id a]", "[1 one]"},
		{"[id a b]", "[2 two 22]"},
		{"[id b]", "[3 33]"},
	}
	for i, w := range want {
		c := txns[i].Changes[0]
		var names []string
		for _, col := range c.Relation.Columns {
			names = append(names, col.Name)
		}
		if fmt.Sprint(names) != w.cols || fmt.Sprint(c.New) != w.row {
			t.Errorf("change %d: columns %v row %v, want %s %s", i, names, c.New, w.cols, w.row)
		}
	}
	if txns[0].Changes[0].Relation == txns[1].Changes[0].Relation {
		t.Error("ALTER TABLE did not produce a new Relation")
	}
}

func TestLogicalMessages(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	start := setup(t, dsn, []string{"public.t"}, `CREATE TABLE t (id int PRIMARY KEY)`)
	rec := newRecorder()
	run(t, StreamOptions{DSN: dsn, Start: start, HeartbeatInterval: 10 * time.Millisecond}, rec)
	pgtest.Exec(t, dsn,
		`SELECT pg_logical_emit_message(false, 'other', 'not transactional')`,
		`BEGIN; SELECT pg_logical_emit_message(true, 'walhook', '{"event":"paid"}'); INSERT INTO t VALUES (1); COMMIT`,
		`TRUNCATE t`)
	txns := rec.waitTxns(t, 2)
	m := txns[0].Changes
	if len(m) != 2 || m[0].Kind != Message || m[0].Prefix != "walhook" || string(m[0].Content) != `{"event":"paid"}` || m[1].Kind != Insert || m[1].Index != 1 {
		t.Fatalf("message transaction: %+v", m)
	}
	tr := txns[1].Changes
	if len(tr) != 1 || tr[0].Kind != Truncate || len(tr[0].Relations) != 1 || tr[0].Relations[0].QualifiedName() != "public.t" {
		t.Fatalf("truncate: %+v", tr)
	}
	_ = context.Background
}
