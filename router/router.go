package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/config"
	"github.com/walhook/walhook/deliver"
)

// Submitter takes events for delivery (deliver.Dispatcher). Submit may block
// for back-pressure; it returns an error only when the event was not taken
// (ctx cancelled, dispatcher closed), which stops the stream.
type Submitter interface {
	Submit(ctx context.Context, ev *deliver.Event) error
}

// Tracker tells the stream which transactions are settled (cdc.Tracker,
// through TrackerOf). Open is called at Begin, Seal at Commit with the
// commit's end LSN, Discard at Rollback.
type Tracker interface {
	Open(commitLSN cdc.LSN) Txn
	Seal(t Txn, endLSN cdc.LSN)
	Discard(t Txn)
}

// Txn counts one transaction's unsettled events: Add before an event is
// submitted, Done (the event's Settle) when it is settled.
type Txn interface {
	Add()
	Done()
}

// Holder durably parks events produced while walhook is paused in hold
// mode (deliver.Dispatcher implements it, over the store). Held events
// have NextAttempt far in the future and must not be tried until walhook
// resumes, when they are released. Hold calls each event's Settle once the
// event is durably held: before it returns, or later when it first lets
// the row's earlier events still in flight be delivered or parked (per-row
// order); it returns an error when it could not take them. An event may be
// held twice with the same ID when its transaction is routed again after
// a reconnect, so Hold should ignore known IDs.
type Holder interface {
	Hold(ctx context.Context, events []deliver.Parked) error
}

// RowReader reads a row of the application's database by key, for custom
// events whose transaction did not change the row and for Router.Send. It
// returns found=false when no row has that key. The row comes as the
// stream would have delivered it (cdc.RowDecoder): the table's columns in
// its order, the key's columns marked Key, values of the same types, so
// that its events look exactly like those built from the WAL.
type RowReader interface {
	ReadRow(ctx context.Context, table string, key map[string]any) (rel *cdc.Relation, row cdc.Row, found bool, err error)
}

// PauseMode says what happens to events while walhook is paused.
type PauseMode string

// Pause modes.
const (
	// PauseSkip drops the window's events (counted, logged, settled).
	PauseSkip PauseMode = "skip"
	// PauseHold parks the window's events through the Holder, to be
	// delivered after resume.
	PauseHold PauseMode = "hold"
)

// Pause is walhook's global pause switch as the control row holds it.
type Pause struct {
	Paused bool
	Mode   PauseMode
}

// Options configure a Router. Source, Submitter and Tracker are required.
type Options struct {
	Source    Source
	Submitter Submitter
	Tracker   Tracker
	// Recorder receives failed events (Attempt.Number 0, Error the
	// reason). Nil drops them after logging.
	Recorder deliver.Recorder
	// Holder parks events while paused in hold mode. Without one, hold
	// mode delivers as if not paused (and says so in the log): nothing is
	// lost.
	Holder Holder
	// Rows reads rows for custom events and Send; nil means custom events
	// take their data from their transaction or their message only, and
	// Send refuses.
	Rows RowReader
	// Events are the file's custom events (conditional and SQL-born).
	Events []config.Event
	// Tables lists the captured tables; when set, Send refuses others.
	Tables []string
	// Schema is walhook's state schema ("walhook" when empty): changes to
	// its control, subscribers and subscriptions tables steer the router
	// and never become webhooks.
	Schema string
	// Disabled is `disabled: true`: a permanent skip.
	Disabled bool
	// Pause is the pause state at start, read from the control row.
	Pause Pause
	// MessagePrefix is the logical message prefix walhook listens to
	// ("walhook" when empty).
	MessagePrefix string
	Logger        zerolog.Logger
	// Registerer receives the router's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock for manual sends and failure records (time.Now when
	// nil).
	Now func() time.Time
}

// Router turns committed transactions into events. It implements
// cdc.Handler: its Handler methods must be called from one goroutine, in
// stream order. Send and State may be called concurrently with them.
type Router struct {
	src      Source
	sub      Submitter
	tracker  Tracker
	rec      deliver.Recorder
	holder   Holder
	rows     RowReader
	log      zerolog.Logger
	m        *metrics
	now      func() time.Time
	prefix   string
	disabled bool
	pause    atomic.Pointer[Pause]

	controlTable string
	subTables    map[string]bool
	events       map[string][]*condEvent // conditional, by table
	declared     map[lookupKey]bool      // custom events by table and name
	keepRows     map[string]bool         // tables with SQL-born events
	tables       map[string]bool

	// Stream state, touched only by the Handler methods.
	tx     txState
	rels   map[*cdc.Relation]*relInfo
	b      builder
	window windowCount

	relMu sync.Mutex
	// lastRel is the latest Relation of each table (guarded by relMu).
	lastRel map[string]*cdc.Relation
}

var _ cdc.Handler = (*Router)(nil)

// New builds a Router. It returns an error when a required option is
// missing or a custom event does not compile. It starts nothing.
func New(o Options) (*Router, error) {
	if o.Source == nil || o.Submitter == nil || o.Tracker == nil {
		return nil, errors.New("new router: Source, Submitter and Tracker are required")
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("new router: register metrics: %w", err)
	}
	r := &Router{
		src: o.Source, sub: o.Submitter, tracker: o.Tracker, rec: o.Recorder,
		holder: o.Holder, rows: o.Rows, log: o.Logger, m: m, now: o.Now,
		prefix: o.MessagePrefix, disabled: o.Disabled,
		rels: map[*cdc.Relation]*relInfo{}, lastRel: map[string]*cdc.Relation{},
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.prefix == "" {
		r.prefix = "walhook"
	}
	r.setSchema(o.Schema)
	if err := r.setEvents(o.Events); err != nil {
		return nil, err
	}
	r.setTables(o.Tables)
	p := o.Pause
	switch {
	case !p.Paused:
		// The control row keeps a mode while not paused; the stream's
		// states (controlState) carry none, and must compare equal.
		p = Pause{}
	case p.Mode != PauseSkip:
		p.Mode = PauseHold
	}
	r.pause.Store(&p)
	return r, nil
}

func (r *Router) setSchema(schema string) {
	if schema == "" {
		schema = "walhook"
	}
	r.controlTable = schema + ".control"
	r.subTables = map[string]bool{schema + ".subscribers": true, schema + ".subscriptions": true}
}

func (r *Router) setEvents(events []config.Event) error {
	r.events = map[string][]*condEvent{}
	r.declared = map[lookupKey]bool{}
	r.keepRows = map[string]bool{}
	for i := range events {
		ev := &events[i]
		r.declared[lookupKey{ev.Table, ev.Name}] = true
		if ev.On == "" {
			r.keepRows[ev.Table] = true
			continue
		}
		ce, err := compileEvent(ev)
		if err != nil {
			return fmt.Errorf("new router: %w", err)
		}
		r.events[ev.Table] = append(r.events[ev.Table], ce)
	}
	return nil
}

func (r *Router) setTables(tables []string) {
	if len(tables) == 0 {
		return
	}
	r.tables = make(map[string]bool, len(tables))
	for _, t := range tables {
		r.tables[t] = true
	}
}

// State returns the pause switch as the stream last saw it.
func (r *Router) State() Pause { return *r.pause.Load() }

// Disabled reports whether the router runs with `disabled: true`.
func (r *Router) Disabled() bool { return r.disabled }

// Begin opens a transaction in the Tracker. A transaction still open
// from a stream that stopped without Rollback (its Run returned on an
// error or cancellation) is discarded first: it will be sent again.
func (r *Router) Begin(ctx context.Context, b *cdc.Begin) error {
	if r.tx.open {
		r.log.Warn().Str("lsn", r.tx.lsn).Msg("discard transaction left open by a stopped stream")
		_ = r.Rollback(ctx)
	}
	r.tx.reset(b)
	r.tx.txn = r.tracker.Open(b.CommitLSN)
	r.tx.settle = r.tx.txn.Done
	return nil
}

// Commit hands over events still held in memory and seals the transaction,
// whether it produced events or not, so the slot advances past it.
func (r *Router) Commit(ctx context.Context, c *cdc.Commit) error {
	if !r.tx.open {
		return fmt.Errorf("commit at %s: no open transaction", c.CommitLSN)
	}
	if err := r.flushHeld(ctx); err != nil {
		return err
	}
	if r.tx.followed {
		if err := r.src.(Follower).Commit(ctx, c.EndLSN); err != nil {
			return fmt.Errorf("commit at %s: save subscriptions: %w", c.CommitLSN, err)
		}
	}
	r.tracker.Seal(r.tx.txn, c.EndLSN)
	r.m.transactions.Inc()
	r.logTx()
	r.tx.close()
	return nil
}

// Rollback discards the open transaction: the stream sends it again, whole.
// Events already submitted will be submitted again with the same ids.
func (r *Router) Rollback(context.Context) error {
	if !r.tx.open {
		return nil
	}
	r.tracker.Discard(r.tx.txn)
	if r.tx.followed {
		r.src.(Follower).Discard()
	}
	r.tx.close()
	return nil
}

// Change routes one change of the open transaction. Errors returned are
// those that must stop the stream (the Source or Submitter failed); a
// change that cannot become an event is recorded as a failed event and
// the stream goes on.
func (r *Router) Change(ctx context.Context, c *cdc.Change) error {
	if !r.tx.open {
		return fmt.Errorf("route %s change %d: no open transaction", c.Kind, c.Index)
	}
	switch c.Kind {
	case cdc.Insert, cdc.Update, cdc.Delete:
		return r.rowChange(ctx, c)
	case cdc.Truncate:
		return r.truncate(ctx, c)
	case cdc.Message:
		return r.message(ctx, c)
	}
	r.log.Warn().Stringer("kind", c.Kind).Int("index", c.Index).Msg("ignore change of unknown kind")
	return nil
}

func (r *Router) logTx() {
	t := &r.tx
	if t.submitted+t.held+t.dropped+t.failed+t.skipped == 0 {
		return
	}
	r.log.Debug().Stringer("lsn", t.commitLSN).Int("submitted", t.submitted).Int("held", t.held).
		Int("dropped", t.dropped).Int("failed", t.failed).Int("skipped_changes", t.skipped).
		Msg("transaction routed")
}
