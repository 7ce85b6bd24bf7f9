package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/walhook/walhook/cdc"
)

// Contents of walhook messages that are not custom events.
const (
	// MessageSkip makes the rest of its transaction produce no events.
	MessageSkip = "skip"
	// MessageHeartbeat is ignored; it exists to make WAL.
	MessageHeartbeat = "heartbeat"
)

// customMessage is the JSON content of a custom-event message:
//
//	{"event":"paid","table":"public.orders","key":{"id":456},
//	 "context":{...},"data":{...}}
type customMessage struct {
	Event   string          `json:"event"`
	Table   string          `json:"table"`
	Key     map[string]any  `json:"key"`
	Context json.RawMessage `json:"context"`
	Data    json.RawMessage `json:"data"`
}

// message handles a transactional logical message. Messages with another
// prefix are ignored. 'skip' silences the rest of the transaction (changes
// before it were already routed: the message must come first); JSON
// content is a custom event; anything else is logged as a bad message and
// the stream goes on.
func (r *Router) message(ctx context.Context, c *cdc.Change) error {
	if c.Prefix != r.prefix {
		return nil
	}
	content := bytes.TrimSpace(c.Content)
	switch string(content) {
	case MessageSkip:
		if !r.tx.skip {
			r.tx.skip = true
			r.log.Debug().Str("lsn", r.tx.lsn).Int("index", c.Index).Msg("transaction skips webhooks")
		}
		return nil
	case MessageHeartbeat, "":
		return nil
	}
	if r.silenced() {
		return nil
	}
	m, err := parseMessage(content)
	if err == nil && !r.knownEvent(m.Table, m.Event) {
		err = unknownEvent(m.Table, m.Event)
	}
	if err != nil {
		r.badMessage(c, err)
		return nil
	}
	return r.custom(ctx, c.Index, m)
}

func (r *Router) badMessage(c *cdc.Change, err error) {
	r.m.failMessage.Inc()
	r.tx.failed++
	r.log.Error().Str("lsn", r.tx.lsn).Int("index", c.Index).Str("reason", err.Error()).
		Msg("walhook message produced no event")
}

// parseMessage decodes and checks a custom-event message.
func parseMessage(content []byte) (*customMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(content))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var m customMessage
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf(`parse walhook message %q: %w: write 'skip' or {"event":"paid","table":"public.orders","key":{"id":456},"context":{...}}`, clip(content), err)
	}
	if dec.More() {
		return nil, fmt.Errorf("parse walhook message %q: text after the JSON object", clip(content))
	}
	if m.Event == "" || m.Table == "" {
		return nil, fmt.Errorf(`check walhook message %q: "event" and "table" are required`, clip(content))
	}
	if len(m.Key) == 0 && isNull(m.Data) {
		return nil, fmt.Errorf(`check walhook message %q: give the row's "key" (or its "data")`, clip(content))
	}
	ctxJSON, err := compactObject(m.Context)
	if err != nil {
		return nil, fmt.Errorf("check walhook message %q: context: %w", clip(content), err)
	}
	m.Context = ctxJSON
	return &m, nil
}

// compactObject returns raw compacted, nil for absent, null or {} (no
// context), and an error when it is not a JSON object.
func compactObject(raw json.RawMessage) (json.RawMessage, error) {
	if isNull(raw) {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if buf.Bytes()[0] != '{' {
		return nil, errors.New(`must be a JSON object, e.g. {"payment_method":"stripe"}`)
	}
	if buf.Len() == 2 {
		return nil, nil
	}
	return buf.Bytes(), nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

func clip(b []byte) string {
	const max = 200
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// knownEvent reports whether event may be sent for table: a built-in
// event or one declared for the table under events:.
func (r *Router) knownEvent(table, event string) bool {
	switch event {
	case EventCreated, EventUpdated, EventDeleted:
		return true
	}
	return r.declared[lookupKey{table, event}]
}

func unknownEvent(table, event string) error {
	return fmt.Errorf("unknown event %q for %s: declare it under events: with table: %s, or use created, updated or deleted", event, table, table)
}

// custom routes a custom event from a message. Its data is the row as the
// transaction left it when the transaction changed that row, else the row
// read by key, else the message's data.
func (r *Router) custom(ctx context.Context, index int, m *customMessage) error {
	subs, err := r.src.Lookup(ctx, m.Table, m.Event)
	if err != nil {
		return fmt.Errorf("look up subscriptions of %s to %s: %w", m.Table, m.Event, err)
	}
	if !anyActive(subs) {
		return nil
	}
	o := r.txOrigin(m.Table, index)
	o.name, o.context = m.Event, m.Context
	if p := r.pause.Load(); p.Paused && p.Mode == PauseSkip {
		return r.emitAll(ctx, subs, &o) // dropped: no need to find the row
	}
	rel := r.relation(m.Table)
	o.orderKey = messageKey(rel, m.Key)
	why, err := r.customData(ctx, &o, m)
	if err != nil {
		return err
	}
	if why != "" {
		return r.failEvent(ctx, &o, m.Event, why+o.where(), r.m.failMessage)
	}
	return r.emitAll(ctx, subs, &o)
}

// customData fills o's data; a non-empty reason means there is none. Only
// a cancelled ctx is returned as an error.
func (r *Router) customData(ctx context.Context, o *origin, m *customMessage) (string, error) {
	if ref, ok := r.tx.rows.get(rowKey(m.Table, o.orderKey)); ok && o.orderKey != "" {
		o.rel, o.ident = ref.rel, r.info(ref.rel).ident
		o.data = view{row: ref.row, fill: ref.fill}
		return "", nil
	}
	var readErr error
	if r.rows != nil && len(m.Key) > 0 {
		rel, row, found, err := r.rows.ReadRow(ctx, m.Table, m.Key)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if found && err == nil {
			o.rel, o.data.row = rel, row
			o.ident = identity(o.rel)
			// The table's key order, as the stream's, even when the stream
			// has not announced the table yet.
			o.orderKey = messageKey(rel, m.Key)
			return "", nil
		}
		readErr = err
	}
	if !isNull(m.Data) {
		o.raw = m.Data
		return "", nil
	}
	why := fmt.Sprintf("event %s: no row of %s with key %s in its transaction or the table, and the message has no data", m.Event, m.Table, o.orderKey)
	if readErr != nil {
		why += fmt.Sprintf(" (read: %v)", readErr)
	}
	return why, nil
}

func anyActive(subs []*Subscription) bool {
	for _, s := range subs {
		if s.Active {
			return true
		}
	}
	return false
}

// remember keeps a changed row for custom events later in the
// transaction. The Row is copied: the stream may reuse its slice.
func (r *Router) remember(ri *relInfo, c *cdc.Change, orderKey string) {
	if orderKey == "" {
		return
	}
	k := rowKey(ri.table, orderKey)
	if c.Kind == cdc.Delete {
		r.tx.rows.forget(k)
		return
	}
	ref := rowRef{rel: c.Relation, row: slices.Clone(c.New)}
	if c.Old != nil && !c.OldIsKey {
		ref.fill = slices.Clone(c.Old)
	}
	r.tx.rows.put(k, ref)
}

// relation returns the last Relation the stream announced for table, or
// nil. It is safe for concurrent use.
func (r *Router) relation(table string) *cdc.Relation {
	r.relMu.Lock()
	defer r.relMu.Unlock()
	return r.lastRel[table]
}

// messageKey encodes a key given as a JSON object the way orderKey encodes
// a row's key, so both name the same row: in the relation's key column
// order when the object names exactly those columns, else in sorted order.
func messageKey(rel *cdc.Relation, key map[string]any) string {
	if len(key) == 0 {
		return ""
	}
	names := keyNames(rel, key)
	row := make(cdc.Row, len(names))
	idx := make([]int, len(names))
	for i, n := range names {
		row[i], idx[i] = key[n], i
	}
	buf, ok := appendRowKey(nil, idx, row, nil)
	if !ok {
		return ""
	}
	return string(buf)
}

func keyNames(rel *cdc.Relation, key map[string]any) []string {
	var names []string
	if rel != nil {
		for _, c := range rel.Columns {
			if c.Key {
				names = append(names, c.Name)
			}
		}
		if len(names) == len(key) && allIn(names, key) {
			return names
		}
	}
	names = names[:0]
	for k := range key {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func allIn(names []string, m map[string]any) bool {
	for _, n := range names {
		if _, ok := m[n]; !ok {
			return false
		}
	}
	return true
}
