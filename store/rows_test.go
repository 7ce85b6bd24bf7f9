package store

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/router"
)

// describeRow writes a row as name=value in column order, a * marking key
// columns, values as JSON.
func describeRow(rel *cdc.Relation, row cdc.Row) string {
	parts := make([]string, len(row))
	for i, c := range rel.Columns {
		k := ""
		if c.Key {
			k = "*"
		}
		b, _ := json.Marshal(row[i])
		parts[i] = fmt.Sprintf("%s%s=%s", c.Name, k, b)
	}
	return strings.Join(parts, " ")
}

// TestReadRowMatchesTheStream: a row read by key has exactly the columns,
// order and typed values the stream delivers for it (so a manual send or a
// custom event read by key looks like a WAL event), whatever the reading
// session's own settings.
func TestReadRowMatchesTheStream(t *testing.T) {
	t.Parallel()
	db, dsn := openDB(t, Options{})
	ctx := context.Background()
	exec(t, db, `CREATE TYPE public.mood AS ENUM ('ok', 'sad')`)
	exec(t, db, `CREATE TABLE public.things (
    id bigint PRIMARY KEY, total numeric, at timestamptz, day date, took interval, raw bytea,
    tags text[], doc jsonb, mood public.mood, big numeric, f float8, nothing text)`)
	opts := cdc.SetupOptions{Slot: "readrow_test", Publication: "readrow_test", Tables: []string{"public.things"}}
	start, err := cdc.Prepare(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, `INSERT INTO public.things VALUES (7, 12.50, '2026-11-29 03:00:00.123456+01', '2026-02-03',
    '1 day 02:03:04', '\x00ff', '{a,"b c",NULL}', '{"k": [1, 2.5]}', 'sad',
    123456789012345678901234567890.123, 0.1, NULL)`)
	var streamed *cdc.Change
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	h := &captureHandler{got: func(c *cdc.Change) { streamed = c; cancel() }}
	if err := cdc.NewStream(cdc.StreamOptions{DSN: dsn, Slot: opts.Slot, Publication: opts.Publication, Start: start}).Run(sctx, h); err != nil {
		t.Fatal(err)
	}
	if streamed == nil {
		t.Fatal("the insert was not streamed")
	}
	rows, err := OpenRows(ctx, withOptions(t, dsn, "-c TimeZone=Asia/Tokyo -c IntervalStyle=sql_standard -c DateStyle=German -c bytea_output=escape"))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for _, r := range []router.RowReader{db, rows} {
		rel, row, found, err := r.ReadRow(ctx, "public.things", map[string]any{"id": 7})
		if err != nil || !found {
			t.Fatalf("ReadRow = %v, %v", found, err)
		}
		var names, want []string
		for i, c := range rel.Columns {
			names = append(names, c.Name)
			want = append(want, streamed.Relation.Columns[i].Name)
		}
		if !reflect.DeepEqual(names, want) || !rel.Columns[0].Key || rel.Columns[1].Key {
			t.Errorf("columns %v (id key %v), want the stream's %v with id as key", names, rel.Columns[0].Key, want)
		}
		if !reflect.DeepEqual(row, streamed.New) {
			t.Errorf("ReadRow values differ from the stream's:\n read   %#v\n stream %#v", row, streamed.New)
		}
	}
}

// withOptions adds libpq options (session settings) to a URL DSN.
func withOptions(t *testing.T, dsn, options string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery += "&options=" + strings.ReplaceAll(url.QueryEscape(options), "+", "%20")
	return u.String()
}

// captureHandler hands the first insert of the stream to got.
type captureHandler struct{ got func(*cdc.Change) }

func (h *captureHandler) Begin(context.Context, *cdc.Begin) error   { return nil }
func (h *captureHandler) Commit(context.Context, *cdc.Commit) error { return nil }
func (h *captureHandler) Rollback(context.Context) error            { return nil }
func (h *captureHandler) Change(_ context.Context, c *cdc.Change) error {
	if c.Kind == cdc.Insert && h.got != nil {
		h.got(c)
		h.got = nil
	}
	return nil
}

func TestReadRow(t *testing.T) {
	t.Parallel()
	db, dsn := openDB(t, Options{})
	ctx := context.Background()
	exec(t, db, `CREATE TABLE public.orders (id int PRIMARY KEY, total numeric, note text, "Mixed Case" text)`)
	exec(t, db, `INSERT INTO public.orders VALUES (456, 12.50, 'hi', 'm')`)
	exec(t, db, `CREATE TABLE public.lines (order_id int, n int, sku text, PRIMARY KEY (order_id, n))`)
	exec(t, db, `INSERT INTO public.lines VALUES (456, 2, 'abc')`)
	// A session whose settings differ from the stream's: ReadRow must not
	// depend on them.
	rows, err := OpenRows(ctx, withOptions(t, dsn, "-c TimeZone=America/New_York -c IntervalStyle=iso_8601 -c DateStyle=SQL,DMY"))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()

	for _, tc := range []struct {
		table string
		key   map[string]any
		want  string
		found bool
	}{
		{"public.orders", map[string]any{"id": 456}, `id*=456 total=12.50 note="hi" Mixed Case="m"`, true},
		{"public.orders", map[string]any{"id": "456"}, `id*=456 total=12.50 note="hi" Mixed Case="m"`, true},
		{"public.orders", map[string]any{"id": json.Number("457")}, "", false},
		{"public.lines", map[string]any{"order_id": 456, "n": 2}, `order_id*=456 n*=2 sku="abc"`, true},
	} {
		for _, r := range []router.RowReader{db, rows} {
			rel, row, found, err := r.ReadRow(ctx, tc.table, tc.key)
			if err != nil || found != tc.found {
				t.Fatalf("ReadRow(%s, %v) = %v, %v, %v", tc.table, tc.key, row, found, err)
			}
			if !found {
				continue
			}
			if got := describeRow(rel, row); got != tc.want {
				t.Errorf("ReadRow(%s, %v) = %s, want %s", tc.table, tc.key, got, tc.want)
			}
		}
	}
	for _, tc := range []struct {
		table string
		key   map[string]any
		want  string
	}{
		{"orders", map[string]any{"id": 1}, "schema-qualified"},
		{"public.orders", nil, "key is empty"},
		{"public.nope", map[string]any{"id": 1}, "does not exist"},
		{"public.orders", map[string]any{"bogus": 1}, "bogus"},
	} {
		_, _, _, err := db.ReadRow(ctx, tc.table, tc.key)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadRow(%s, %v) error = %v, want it to mention %q", tc.table, tc.key, err, tc.want)
		}
	}
}
