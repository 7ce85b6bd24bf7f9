package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/deliver"
	"github.com/walhook/walhook/router"
	"github.com/walhook/walhook/store"
)

func init() { commands = append(commands, newSendCmd) }

// sendArgs are walhook send's arguments once parsed.
type sendArgs struct {
	table, event string
	key          any // a scalar (string) or map[string]any
	context      json.RawMessage
	retry        bool
}

func newSendCmd(g *globalFlags) *cobra.Command {
	var keyJSON, ctxJSON string
	var noRetry, asJSON bool
	c := &cobra.Command{
		Use:   "send TABLE KEY EVENT | send TABLE EVENT --key JSON",
		Short: "Read a row by primary key and deliver an event for it now (webhook_send)",
		Long: `send reads the row of TABLE (schema-qualified) whose primary key is KEY, builds
EVENT for every active subscription of that table to it, with the usual
projection, and delivers it at once, printing the outcome per subscriber.
EVENT is created, updated, deleted or a custom event declared under events:.

KEY is the value of a one-column primary key. For a composite key give the
columns as a JSON object with --key and leave KEY out.

A delivery that fails goes to the durable retry queue like any webhook (unless
--no-retry); if earlier events of the same row still wait there, the event
queues behind them to keep per-row order. The exit code is 0 when every
subscriber got the event, 1 when one did not, 2 for bad arguments.
From SQL, inside a transaction, use instead:
  SELECT walhook.send_webhook('public.orders', '{"id": 456}', 'paid', '{"payment_method": "stripe"}')`,
		Example: `  walhook send public.users 123 created
  walhook send public.orders 456 paid --context '{"payment_method": "stripe"}'
  walhook send public.order_lines paid --key '{"order_id": 456, "line": 2}'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			sa, err := parseSendArgs(args, keyJSON, ctxJSON)
			if err != nil {
				return err
			}
			sa.retry = !noRetry
			return withState(cmd, g, func(ctx context.Context, s *stateAPI) error {
				return runSend(ctx, s, sa, newOutput(cmd, asJSON))
			})
		},
	}
	fl := c.Flags()
	fl.StringVar(&keyJSON, "key", "", `the primary key as a JSON object, e.g. '{"order_id": 456, "line": 2}' (instead of KEY)`)
	fl.StringVar(&ctxJSON, "context", "", `the event's context, a JSON object, e.g. '{"payment_method": "stripe"}'`)
	fl.BoolVar(&noRetry, "no-retry", false, "try each subscriber once; do not queue failures for retry")
	addJSONFlag(c, &asJSON)
	return c
}

const sendUsage = "write walhook send TABLE KEY EVENT (e.g. walhook send public.orders 456 paid) or walhook send TABLE EVENT --key '{\"order_id\": 456, \"line\": 2}'"

// parseSendArgs checks the positional arguments against --key and parses
// the JSON flags; every problem is a usage error.
func parseSendArgs(args []string, keyJSON, ctxJSON string) (sendArgs, error) {
	var sa sendArgs
	switch {
	case len(args) == 3 && keyJSON != "":
		return sa, usagef("the key is given twice, as KEY %q and with --key: give it once", args[1])
	case len(args) == 3:
		sa.table, sa.event = args[0], args[2]
		sa.key = args[1]
		if strings.HasPrefix(strings.TrimSpace(args[1]), "{") {
			keyJSON = args[1]
		}
	case len(args) == 2 && keyJSON == "":
		return sa, usagef("missing KEY: %s", sendUsage)
	case len(args) == 2:
		sa.table, sa.event = args[0], args[1]
	default:
		return sa, usagef("send takes TABLE KEY EVENT, got %d arguments: %s", len(args), sendUsage)
	}
	if !strings.Contains(sa.table, ".") {
		return sa, usagef("table %q is not schema-qualified: write schema.table, e.g. public.%s", sa.table, sa.table)
	}
	if keyJSON != "" {
		m, err := decodeObject(keyJSON)
		if err != nil {
			return sa, usagef("--key %s: %v; write a JSON object of the primary key columns, e.g. '{\"order_id\": 456, \"line\": 2}'", keyJSON, err)
		}
		sa.key = m
	}
	if ctxJSON != "" {
		if _, err := decodeObject(ctxJSON); err != nil {
			return sa, usagef("--context %s: %v; write a JSON object, e.g. '{\"payment_method\": \"stripe\"}'", ctxJSON, err)
		}
		sa.context = json.RawMessage(ctxJSON)
	}
	return sa, nil
}

// decodeObject decodes a JSON object with numbers kept as json.Number.
func decodeObject(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON object (%v)", err)
	}
	if m == nil {
		return nil, errors.New("not a JSON object (null)")
	}
	if dec.More() {
		return nil, errors.New("not a JSON object (text after it)")
	}
	return m, nil
}

// runSend resolves the key, routes the event through a router of its own
// and delivers it now.
func runSend(ctx context.Context, s *stateAPI, sa sendArgs, out output) error {
	if err := checkEvent(s, sa.table, sa.event); err != nil {
		return usageError{err}
	}
	key, err := s.sendKey(ctx, sa.table, sa.key)
	if err != nil {
		return usageIfInvalid(err)
	}
	client, err := newDeliverClient(s.cfg)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	if err := s.db.RefreshParked(ctx); err != nil {
		return err
	}
	sub := &nowSubmitter{client: client, db: s.db, retry: sa.retry, sem: make(chan struct{}, 8)}
	var outcomes []sendOutcome
	var sendErr error
	err = s.withRows(ctx, func(rows router.RowReader) error {
		rt, err := newManualRouter(ctx, s, sub, rows)
		if err != nil {
			return err
		}
		outcomes, sendErr = s.sendNow(ctx, rt, sub, sa, key)
		return nil
	})
	if err != nil {
		return err
	}
	if len(outcomes) == 0 && sendErr != nil {
		return sendErr
	}
	if err := out.emit(outcomes, func(w io.Writer) { printOutcomes(w, outcomes) }); err != nil {
		return err
	}
	return errors.Join(sendErr, outcomesError(outcomes))
}

// sendNow runs the delivery log recorder while the router sends, then
// flushes it, so that the attempts are logged and counted before it
// returns.
func (s *stateAPI) sendNow(ctx context.Context, rt *router.Router, sub *nowSubmitter, sa sendArgs, key map[string]any) ([]sendOutcome, error) {
	recCtx, stopRec := context.WithCancel(context.WithoutCancel(ctx))
	var g errgroup.Group
	g.Go(func() error { return s.db.RunRecorder(recCtx) })
	_, err := rt.Send(ctx, sa.table, key, sa.event, sa.context)
	outcomes := sub.wait()
	stopRec()
	if recErr := g.Wait(); recErr != nil {
		err = errors.Join(err, recErr)
	}
	return outcomes, err
}

func outcomesError(outcomes []sendOutcome) error {
	failed := 0
	for _, o := range outcomes {
		if o.Outcome != outcomeDelivered {
			failed++
		}
	}
	if failed == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d subscribers did not get the event now (see above; queued ones are retried by a running walhook)", failed, len(outcomes))
}

// usageIfInvalid turns a keyError into a usage error.
func usageIfInvalid(err error) error {
	var ke *keyError
	if errors.As(err, &ke) {
		return usageError{err}
	}
	return err
}

// checkEvent refuses an event that is neither built in nor declared for
// table, listing the ones that are.
func checkEvent(s *stateAPI, table, event string) error {
	known := []string{"created", "updated", "deleted"}
	for _, e := range s.cfg.Events {
		if e.Table == table {
			known = append(known, e.Name)
		}
	}
	if slices.Contains(known, event) {
		return nil
	}
	return fmt.Errorf("event %q is not an event of %s: use one of %s (custom events are declared under events: in %s)",
		event, table, strings.Join(known, ", "), s.cfg.File)
}

// newManualRouter builds a router for manual sends only: it never sees
// the stream, so it starts with the pause switch as the control row holds
// it now.
func newManualRouter(ctx context.Context, s *stateAPI, sub router.Submitter, rows router.RowReader) (*router.Router, error) {
	p, err := s.db.PauseState(ctx)
	if err != nil {
		return nil, err
	}
	rt, err := router.New(router.Options{
		Source:    s.db,
		Submitter: sub,
		Tracker:   noTracker{},
		Recorder:  s.db,
		Rows:      rows,
		Events:    s.cfg.Events,
		Schema:    s.cfg.State.Schema,
		Disabled:  s.cfg.Disabled,
		Pause:     router.Pause{Paused: p.Paused, Mode: router.PauseMode(p.Mode)},
	})
	if err != nil {
		return nil, fmt.Errorf("build router for manual sends: %w", err)
	}
	return rt, nil
}

// noTracker is the Tracker of a router that never streams.
type noTracker struct{}

func (noTracker) Open(cdc.LSN) router.Txn  { return noTxn{} }
func (noTracker) Seal(router.Txn, cdc.LSN) {}
func (noTracker) Discard(router.Txn)       {}

type noTxn struct{}

func (noTxn) Add()  {}
func (noTxn) Done() {}

// Outcomes of a manual send, per subscriber.
const (
	outcomeDelivered = "delivered"
	outcomeQueued    = "queued"
	outcomeFailed    = "failed"
)

// sendOutcome is what happened to the event of one subscription.
type sendOutcome struct {
	Subscriber     string    `json:"subscriber"`
	SubscriberID   int64     `json:"subscriber_id"`
	Event          string    `json:"event"`
	EventID        string    `json:"event_id"`
	URL            string    `json:"url"`
	Outcome        string    `json:"outcome"`
	ResponseStatus int       `json:"response_status,omitempty"`
	DurationMS     int64     `json:"duration_ms"`
	Error          string    `json:"error,omitempty"`
	NextAttempt    time.Time `json:"next_attempt,omitzero"`
}

// nowSubmitter delivers each submitted event at once with its own
// goroutine (at most cap(sem) at a time), records the attempt and parks a
// failure in the retry queue. wait returns the outcomes once all are done.
type nowSubmitter struct {
	client *deliver.Client
	db     *store.DB
	retry  bool
	sem    chan struct{}

	wg  sync.WaitGroup
	mu  sync.Mutex
	out []sendOutcome
}

// Submit starts delivering ev; it blocks while cap(sem) deliveries run.
func (n *nowSubmitter) Submit(ctx context.Context, ev *deliver.Event) error {
	select {
	case n.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		o := n.deliver(ctx, ev)
		<-n.sem
		if ev.Settle != nil {
			ev.Settle()
		}
		n.mu.Lock()
		n.out = append(n.out, o)
		n.mu.Unlock()
	}()
	return nil
}

// wait waits for every delivery and returns the outcomes by subscriber.
func (n *nowSubmitter) wait() []sendOutcome {
	n.wg.Wait()
	n.mu.Lock()
	defer n.mu.Unlock()
	sort.Slice(n.out, func(i, j int) bool { return n.out[i].Subscriber < n.out[j].Subscriber })
	return n.out
}

func (n *nowSubmitter) deliver(ctx context.Context, ev *deliver.Event) sendOutcome {
	ep := ev.Endpoint
	o := sendOutcome{Subscriber: ep.Subscriber, SubscriberID: ep.SubscriberID, Event: ev.Name, EventID: ev.ID, URL: ep.URL}
	if n.db.HasParked(ep.SubscriptionID, ev.OrderKey) {
		return n.park(ctx, o, deliver.Parked{Event: ev, NextAttempt: time.Now()},
			"earlier events of this row wait in the retry queue, or the subscriber is auto-disabled: queued behind them")
	}
	a := n.client.Send(ctx, []*deliver.Event{ev})[0]
	n.db.Record(a)
	o.ResponseStatus, o.DurationMS, o.Error = a.Status, a.Duration.Milliseconds(), a.Error
	if a.Success() {
		o.Outcome = outcomeDelivered
		return o
	}
	if !n.retry || a.Permanent || a.Gone() || ep.MaxRetries < 1 {
		o.Outcome = outcomeFailed
		return o
	}
	next := time.Now().Add(max(deliver.RetryInterval(ep, 1), a.RetryAfter))
	return n.park(ctx, o, deliver.Parked{Event: ev, Attempts: 1, LastError: a.Error, NextAttempt: next}, a.Error)
}

func (n *nowSubmitter) park(ctx context.Context, o sendOutcome, p deliver.Parked, why string) sendOutcome {
	if err := n.db.Park(ctx, []deliver.Parked{p}); err != nil {
		o.Outcome, o.Error = outcomeFailed, why+"; and queueing it for retry failed: "+err.Error()
		return o
	}
	o.Outcome, o.Error, o.NextAttempt = outcomeQueued, why, p.NextAttempt
	return o
}

func printOutcomes(w io.Writer, outcomes []sendOutcome) {
	tw := newTable(w)
	fmt.Fprintln(tw, "SUBSCRIBER\tEVENT\tOUTCOME\tSTATUS\tMS\tURL\tEVENT ID\tNOTE")
	for _, o := range outcomes {
		status := "-"
		if o.ResponseStatus != 0 {
			status = strconv.Itoa(o.ResponseStatus)
		}
		note := o.Error
		if !o.NextAttempt.IsZero() && o.Outcome == outcomeQueued {
			note += " (next try " + o.NextAttempt.UTC().Format("15:04:05") + " UTC)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", o.Subscriber, o.Event, strings.ToUpper(o.Outcome), status,
			o.DurationMS, o.URL, o.EventID, clipText(note, 120))
	}
	tw.Flush()
}

// keyError is a key that does not fit the table's primary key, or a table
// that cannot be read by key.
type keyError struct {
	msg string
	// notFound marks a table that does not exist.
	notFound bool
}

func (e *keyError) Error() string { return e.msg }

func keyErrorf(format string, args ...any) error { return &keyError{msg: fmt.Sprintf(format, args...)} }

// primaryKey is a table's quoted name and primary key columns.
type primaryKey struct {
	quoted string
	cols   []keyColumn
}

type keyColumn struct {
	name, typ string
	category  string // pg_type.typcategory: N numeric, B boolean, …
}

func (pk primaryKey) names() string {
	n := make([]string, len(pk.cols))
	for i, c := range pk.cols {
		n[i] = c.name
	}
	return strings.Join(n, ", ")
}

const primaryKeySQL = `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname),
       coalesce(array_agg(a.attname::text ORDER BY k.ord) FILTER (WHERE a.attname IS NOT NULL), '{}'),
       coalesce(array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.ord) FILTER (WHERE a.attname IS NOT NULL), '{}'),
       coalesce(array_agg(t.typcategory::text ORDER BY k.ord) FILTER (WHERE a.attname IS NOT NULL), '{}')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
LEFT JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) ON true
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
LEFT JOIN pg_type t ON t.oid = a.atttypid
WHERE n.nspname = $1 AND c.relname = $2
GROUP BY n.nspname, c.relname`

// lookupPrimaryKey reads table's primary key from the source database's
// catalog. An unknown table or one without a primary key is a keyError.
func lookupPrimaryKey(ctx context.Context, q querier, table string) (primaryKey, error) {
	schema, name, ok := strings.Cut(table, ".")
	if !ok {
		return primaryKey{}, keyErrorf("table %q is not schema-qualified: write schema.table, e.g. public.%s", table, table)
	}
	var pk primaryKey
	var names, types, cats []string
	err := q.QueryRow(ctx, primaryKeySQL, schema, name).Scan(&pk.quoted, &names, &types, &cats)
	if errors.Is(err, pgx.ErrNoRows) {
		return pk, &keyError{msg: fmt.Sprintf("table %s does not exist in the source database", table), notFound: true}
	}
	if err != nil {
		return pk, fmt.Errorf("read the primary key of %s: %w", table, err)
	}
	if len(names) == 0 {
		return pk, keyErrorf("table %s has no primary key, and walhook reads rows by primary key: add one (ALTER TABLE %s ADD PRIMARY KEY (…))", table, table)
	}
	for i := range names {
		pk.cols = append(pk.cols, keyColumn{name: names[i], typ: types[i], category: cats[i]})
	}
	return pk, nil
}

// keyFor maps a key given as a scalar (one-column primary key) or as an
// object of columns onto the primary key, with numbers as json.Number and
// booleans as bool where the column is of that kind, so that the event's
// row key matches the one the stream computes. A mismatch is a keyError.
func (pk primaryKey) keyFor(table string, key any) (map[string]any, error) {
	obj, isObj := key.(map[string]any)
	if !isObj {
		if len(pk.cols) != 1 {
			return nil, keyErrorf("%s has a composite primary key (%s): give every column as a JSON object with --key, e.g. --key '%s'", table, pk.names(), pk.example())
		}
		obj = map[string]any{pk.cols[0].name: key}
	}
	out := make(map[string]any, len(pk.cols))
	for _, c := range pk.cols {
		v, ok := obj[c.name]
		if !ok {
			return nil, keyErrorf("the key of %s misses column %s: its primary key is (%s), e.g. '%s'", table, c.name, pk.names(), pk.example())
		}
		cv, err := c.convert(v)
		if err != nil {
			return nil, keyErrorf("key column %s of %s: %v", c.name, table, err)
		}
		out[c.name] = cv
	}
	for k := range obj {
		if _, ok := out[k]; !ok {
			return nil, keyErrorf("the key of %s names column %q, which is not in its primary key (%s)", table, k, pk.names())
		}
	}
	return out, nil
}

func (pk primaryKey) example() string {
	parts := make([]string, len(pk.cols))
	for i, c := range pk.cols {
		parts[i] = strconv.Quote(c.name) + ": " + strconv.Itoa(i+1)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// convert checks a key value against the column's kind.
func (c keyColumn) convert(v any) (any, error) {
	var text string
	switch x := v.(type) {
	case string:
		text = x
	case json.Number:
		text = x.String()
	case bool:
		text = strconv.FormatBool(x)
	case float64:
		text = strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return nil, errors.New("is null; a primary key value is never null")
	default:
		return nil, fmt.Errorf("is %T; give a number, string or boolean", v)
	}
	switch c.category {
	case "N":
		text = strings.TrimSpace(text)
		if !json.Valid([]byte(text)) || strings.ContainsAny(text, `"{[tfn`) {
			return nil, fmt.Errorf("%q is not a number (the column is %s)", text, c.typ)
		}
		return json.Number(text), nil
	case "B":
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, fmt.Errorf("%q is not a boolean (the column is %s)", text, c.typ)
		}
		return b, nil
	default:
		return text, nil
	}
}

// sendKey resolves a manual send's key against table's primary key in the
// source database.
func (s *stateAPI) sendKey(ctx context.Context, table string, key any) (map[string]any, error) {
	var out map[string]any
	err := s.withSource(ctx, func(q querier) error {
		pk, err := lookupPrimaryKey(ctx, q, table)
		if err != nil {
			return err
		}
		out, err = pk.keyFor(table, key)
		return err
	})
	return out, err
}

// withRows runs fn with a reader of the source database's rows
// (router.RowReader): the state database when state.dsn is source.dsn,
// else a small pool of its own that it closes afterwards.
func (s *stateAPI) withRows(ctx context.Context, fn func(router.RowReader) error) error {
	if s.cfg.State.DSN == s.cfg.Source.DSN {
		return fn(s.db)
	}
	rows, err := store.OpenRows(ctx, s.cfg.Source.DSN)
	if err != nil {
		return err
	}
	defer rows.Close()
	return fn(rows)
}
