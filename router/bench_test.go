package router

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/config"
	"github.com/walhook/walhook/deliver"
)

type discardSubmitter struct{}

func (discardSubmitter) Submit(_ context.Context, ev *deliver.Event) error { return nil }

type nopTxn struct{}

func (nopTxn) Add()  {}
func (nopTxn) Done() {}

type nopTracker struct{}

func (nopTracker) Open(cdc.LSN) Txn  { return nopTxn{} }
func (nopTracker) Seal(Txn, cdc.LSN) {}
func (nopTracker) Discard(Txn)       {}

// benchRow is a typical row: a dozen columns of common types.
var benchRel = &cdc.Relation{Schema: "public", Name: "orders", ReplicaIdentity: 'f', Columns: []cdc.Column{
	{Name: "id", Key: true}, {Name: "user_id"}, {Name: "status"}, {Name: "total"}, {Name: "currency"},
	{Name: "paid"}, {Name: "created_at"}, {Name: "updated_at"}, {Name: "note"}, {Name: "meta"}, {Name: "items"}, {Name: "email"},
}}

func benchRow(id int64, status string) cdc.Row {
	at := time.Date(2026, 11, 29, 3, 0, 0, 123456000, time.UTC)
	return cdc.Row{id, int64(42), status, "129.90", "EUR", true, at, at, "leave at the door, ring twice",
		[]byte(`{"source":"web","campaign":"autumn"}`), []any{int64(1), int64(2)}, "buyer@example.com"}
}

func benchRouter(b *testing.B, proj *config.Projection, event string) *Router {
	p, err := Compile(proj)
	if err != nil {
		b.Fatal(err)
	}
	sub := testSub("public.orders", event, p)
	r, err := New(Options{Source: staticOf(sub), Submitter: discardSubmitter{}, Tracker: nopTracker{}, Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func benchChanges(b *testing.B, r *Router, c *cdc.Change) {
	ctx := context.Background()
	_ = r.Begin(ctx, &cdc.Begin{CommitLSN: 0x100, CommitTime: time.Now()})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Index = i
		if err := r.Change(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRouteInsert is one insert → one event: lookup, projection of
// every column, payload, event.
func BenchmarkRouteInsert(b *testing.B) {
	r := benchRouter(b, nil, EventCreated)
	benchChanges(b, r, &cdc.Change{Kind: cdc.Insert, Relation: benchRel, New: benchRow(1, "new")})
}

// BenchmarkRouteInsertProjected uses a map projection with a nested object
// and a constant.
func BenchmarkRouteInsertProjected(b *testing.B) {
	proj := &config.Projection{Fields: []config.Field{
		{Key: "id", Column: "id"}, {Key: "status", Column: "status"},
		{Key: "amount", Nested: &config.Projection{Fields: []config.Field{{Key: "total", Column: "total"}, {Key: "currency", Column: "currency"}}}},
		{Key: "v", Const: int64(2), HasConst: true},
	}}
	r := benchRouter(b, proj, EventCreated)
	benchChanges(b, r, &cdc.Change{Kind: cdc.Insert, Relation: benchRel, New: benchRow(1, "new")})
}

// BenchmarkRouteUpdateFull has previous and changed.
func BenchmarkRouteUpdateFull(b *testing.B) {
	r := benchRouter(b, nil, EventUpdated)
	benchChanges(b, r, &cdc.Change{Kind: cdc.Update, Relation: benchRel, Old: benchRow(1, "new"), New: benchRow(1, "paid")})
}
