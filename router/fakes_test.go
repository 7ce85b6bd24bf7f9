package router

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/config"
	"github.com/walhook/walhook/deliver"
)

// fakeSubmitter records submitted events; SubmitFunc, when set, decides.
type fakeSubmitter struct {
	SubmitFunc func(ctx context.Context, ev *deliver.Event) error
	mu         sync.Mutex
	events     []*deliver.Event
}

func (f *fakeSubmitter) Submit(ctx context.Context, ev *deliver.Event) error {
	if f.SubmitFunc != nil {
		if err := f.SubmitFunc(ctx, ev); err != nil {
			return err
		}
	}
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.mu.Unlock()
	return nil
}

func (f *fakeSubmitter) got() []*deliver.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*deliver.Event(nil), f.events...)
}

// fakeTracker is a Tracker made of functions.
type fakeTracker struct {
	OpenFunc    func(commitLSN cdc.LSN) Txn
	SealFunc    func(t Txn, end cdc.LSN)
	DiscardFunc func(t Txn)
}

func (f *fakeTracker) Open(l cdc.LSN) Txn      { return f.OpenFunc(l) }
func (f *fakeTracker) Seal(t Txn, end cdc.LSN) { f.SealFunc(t, end) }
func (f *fakeTracker) Discard(t Txn)           { f.DiscardFunc(t) }

// fakeHolder is a Holder made of functions; ReleaseHeldFunc makes it a
// Releaser.
type fakeHolder struct {
	HoldFunc func(ctx context.Context, events []deliver.Parked) error
}

func (f *fakeHolder) Hold(ctx context.Context, ev []deliver.Parked) error { return f.HoldFunc(ctx, ev) }

type fakeReleaser struct {
	fakeHolder
	ReleaseHeldFunc func(ctx context.Context) (int64, error)
}

func (f *fakeReleaser) ReleaseHeld(ctx context.Context) (int64, error) { return f.ReleaseHeldFunc(ctx) }

// fakeRows is a RowReader made of a function returning a row as a map; it
// orders the columns as the real reader does (the table's order: users'
// for public.users, else sorted) and marks the key's columns.
type fakeRows struct {
	ReadRowFunc func(ctx context.Context, table string, key map[string]any) (map[string]any, bool, error)
	// Order gives a table's column order (default: users' for
	// public.users, else sorted).
	Order map[string][]string
}

func (f *fakeRows) ReadRow(ctx context.Context, table string, key map[string]any) (*cdc.Relation, cdc.Row, bool, error) {
	m, found, err := f.ReadRowFunc(ctx, table, key)
	if !found || err != nil {
		return nil, nil, found, err
	}
	schema, name, _ := strings.Cut(table, ".")
	rel := &cdc.Relation{Schema: schema, Name: name}
	var names []string
	if order, ok := f.Order[table]; ok {
		names = order
	} else if table == "public.users" {
		for _, c := range users.Columns {
			if _, ok := m[c.Name]; ok {
				names = append(names, c.Name)
			}
		}
	} else {
		for k := range m {
			names = append(names, k)
		}
		slices.Sort(names)
	}
	row := make(cdc.Row, len(names))
	for i, n := range names {
		_, isKey := key[n]
		rel.Columns = append(rel.Columns, cdc.Column{Name: n, Key: isKey})
		row[i] = m[n]
	}
	return rel, row, true, nil
}

// fakeSource is a Source made of functions.
type fakeSource struct {
	LookupFunc     func(ctx context.Context, table, event string) ([]*Subscription, error)
	InvalidateFunc func(table string)
}

func (f *fakeSource) Lookup(ctx context.Context, table, event string) ([]*Subscription, error) {
	return f.LookupFunc(ctx, table, event)
}
func (f *fakeSource) Invalidate(table string) { f.InvalidateFunc(table) }

// countTxn counts Add and Done.
type countTxn struct {
	mu         sync.Mutex
	commitLSN  cdc.LSN
	adds, done int
	sealedAt   cdc.LSN
	discarded  bool
}

func (c *countTxn) Add()  { c.mu.Lock(); c.adds++; c.mu.Unlock() }
func (c *countTxn) Done() { c.mu.Lock(); c.done++; c.mu.Unlock() }

// recTracker is a fakeTracker that keeps every countTxn.
type recTracker struct {
	fakeTracker
	txns []*countTxn
}

func newRecTracker() *recTracker {
	rt := &recTracker{}
	rt.OpenFunc = func(l cdc.LSN) Txn {
		x := &countTxn{commitLSN: l}
		rt.txns = append(rt.txns, x)
		return x
	}
	rt.SealFunc = func(t Txn, end cdc.LSN) { t.(*countTxn).sealedAt = end }
	rt.DiscardFunc = func(t Txn) { t.(*countTxn).discarded = true }
	return rt
}

// recorder collects failure records.
type recorder struct {
	mu       sync.Mutex
	attempts []deliver.Attempt
}

func (r *recorder) Record(a deliver.Attempt) {
	r.mu.Lock()
	r.attempts = append(r.attempts, a)
	r.mu.Unlock()
}

func (r *recorder) got() []deliver.Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]deliver.Attempt(nil), r.attempts...)
}

// harness is a Router with recording fakes around it.
type harness struct {
	r       *Router
	sub     *fakeSubmitter
	tracker *recTracker
	rec     *recorder
}

// mustConfig parses a YAML configuration for tests.
func mustConfig(t testing.TB, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("walhook.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	return cfg
}

// newHarness builds a Router over the file's subscribers. edit, when
// given, adjusts the options first.
func newHarness(t testing.TB, yaml string, edit func(*Options)) *harness {
	t.Helper()
	cfg := mustConfig(t, yaml)
	src, err := StaticSource(cfg)
	if err != nil {
		t.Fatalf("StaticSource: %v", err)
	}
	h := &harness{sub: &fakeSubmitter{}, tracker: newRecTracker(), rec: &recorder{}}
	o := Options{
		Source: src, Submitter: h.sub, Tracker: h.tracker, Recorder: h.rec,
		Events: cfg.Events, Disabled: cfg.Disabled, Logger: zerolog.Nop(),
		Now: func() time.Time { return time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC) },
	}
	if edit != nil {
		edit(&o)
	}
	r, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.r = r
	return h
}

// tx routes one transaction made of changes (indexes set in order).
func (h *harness) tx(t testing.TB, lsn cdc.LSN, changes ...*cdc.Change) {
	t.Helper()
	ctx := context.Background()
	if err := h.r.Begin(ctx, &cdc.Begin{Xid: 1, CommitLSN: lsn, CommitTime: commitTime}); err != nil {
		t.Fatalf("Begin: %v", err)
	}
	for i, c := range changes {
		c.Index = i
		if err := h.r.Change(ctx, c); err != nil {
			t.Fatalf("Change %d: %v", i, err)
		}
	}
	if err := h.r.Commit(ctx, &cdc.Commit{CommitLSN: lsn, EndLSN: lsn + 8, CommitTime: commitTime}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

var commitTime = time.Date(2026, 11, 29, 3, 0, 0, 123456000, time.UTC)

// users is public.users(id key, name, email, bio) with default replica
// identity.
var users = &cdc.Relation{ID: 1, Schema: "public", Name: "users", ReplicaIdentity: 'd', Columns: []cdc.Column{
	{Name: "id", TypeOID: 20, Key: true}, {Name: "name", TypeOID: 25}, {Name: "email", TypeOID: 25}, {Name: "bio", TypeOID: 25},
}}

// usersFull is public.users with REPLICA IDENTITY FULL.
var usersFull = &cdc.Relation{ID: 1, Schema: "public", Name: "users", ReplicaIdentity: 'f', Columns: users.Columns}

func insert(rel *cdc.Relation, row ...any) *cdc.Change {
	return &cdc.Change{Kind: cdc.Insert, Relation: rel, New: row}
}

func update(rel *cdc.Relation, old, row cdc.Row) *cdc.Change {
	return &cdc.Change{Kind: cdc.Update, Relation: rel, New: row, Old: old, OldIsKey: old != nil && rel.ReplicaIdentity != 'f'}
}

func del(rel *cdc.Relation, old cdc.Row) *cdc.Change {
	return &cdc.Change{Kind: cdc.Delete, Relation: rel, Old: old, OldIsKey: rel.ReplicaIdentity != 'f'}
}

func message(content string) *cdc.Change {
	return &cdc.Change{Kind: cdc.Message, Prefix: "walhook", Content: []byte(content)}
}
