package store

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestReadRow(t *testing.T) {
	t.Parallel()
	db, dsn := openDB(t, Options{})
	ctx := context.Background()
	exec(t, db, `CREATE TABLE public.orders (id int PRIMARY KEY, total numeric, note text, "Mixed Case" text)`)
	exec(t, db, `INSERT INTO public.orders VALUES (456, 12.50, 'hi', 'm')`)
	exec(t, db, `CREATE TABLE public.lines (order_id int, n int, sku text, PRIMARY KEY (order_id, n))`)
	exec(t, db, `INSERT INTO public.lines VALUES (456, 2, 'abc')`)
	rows, err := OpenRows(ctx, dsn)
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
		{"public.orders", map[string]any{"id": 456}, `{"Mixed Case":"m","id":456,"note":"hi","total":12.50}`, true},
		{"public.orders", map[string]any{"id": "456"}, `{"Mixed Case":"m","id":456,"note":"hi","total":12.50}`, true},
		{"public.orders", map[string]any{"id": json.Number("457")}, "", false},
		{"public.lines", map[string]any{"order_id": 456, "n": 2}, `{"n":2,"order_id":456,"sku":"abc"}`, true},
	} {
		for _, r := range []interface {
			ReadRow(context.Context, string, map[string]any) (map[string]any, bool, error)
		}{db, rows} {
			row, found, err := r.ReadRow(ctx, tc.table, tc.key)
			if err != nil || found != tc.found {
				t.Fatalf("ReadRow(%s, %v) = %v, %v, %v", tc.table, tc.key, row, found, err)
			}
			if !found {
				continue
			}
			b, _ := json.Marshal(row)
			if string(b) != tc.want {
				t.Errorf("ReadRow(%s, %v) = %s, want %s", tc.table, tc.key, b, tc.want)
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
		_, _, err := db.ReadRow(ctx, tc.table, tc.key)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadRow(%s, %v) error = %v, want it to mention %q", tc.table, tc.key, err, tc.want)
		}
	}
}
