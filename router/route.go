package router

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/deliver"
)

// Built-in event names.
const (
	EventCreated   = "created"
	EventUpdated   = "updated"
	EventDeleted   = "deleted"
	EventTruncated = "truncated"
)

// holdBatch is how many held events are handed to the Holder at once.
const holdBatch = 512

// holdUntil is the NextAttempt of held events: never, until released.
var holdUntil = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

func builtinName(k cdc.Kind) string {
	switch k {
	case cdc.Insert:
		return EventCreated
	case cdc.Update:
		return EventUpdated
	case cdc.Delete:
		return EventDeleted
	}
	return ""
}

// rowChange routes an insert, update or delete: its built-in event, then
// the table's conditional events in file order.
func (r *Router) rowChange(ctx context.Context, c *cdc.Change) error {
	ri := r.info(c.Relation)
	switch ri.role {
	case roleControl:
		if f, ok := r.src.(Follower); ok {
			f.Apply(c)
			r.tx.followed = true
		}
		return r.applyControl(ctx, c)
	case roleSubscriptions:
		r.subscriptionsChanged(c)
		return nil
	}
	if r.silenced() {
		return nil
	}
	o := r.rowOrigin(ri, c)
	if ri.keepRows {
		r.remember(ri, c, o.orderKey)
	}
	if err := r.route(ctx, &o, builtinName(c.Kind)); err != nil {
		return err
	}
	for _, be := range ri.conds {
		if be.on != c.Kind {
			continue
		}
		if err := r.conditional(ctx, be, c, &o); err != nil {
			return err
		}
	}
	return nil
}

// silenced reports (and counts) a change that produces nothing because of
// a skip message or `disabled: true`.
func (r *Router) silenced() bool {
	switch {
	case r.tx.skip:
		r.m.dropSkipMsg.Inc()
	case r.disabled:
		r.m.dropDisabled.Inc()
	default:
		return false
	}
	r.tx.skipped++
	return true
}

// rowOrigin describes a row change for its events: data is the new row
// (the old row, or its key, for a delete); previous and changed need the
// whole old row (REPLICA IDENTITY FULL).
func (r *Router) rowOrigin(ri *relInfo, c *cdc.Change) origin {
	o := r.txOrigin(ri.table, c.Index)
	o.rel, o.ident = c.Relation, ri.ident
	full := c.Old != nil && !c.OldIsKey
	var keyRow, fallback cdc.Row
	switch c.Kind {
	case cdc.Insert:
		o.data = view{row: c.New}
		keyRow = c.New
	case cdc.Update:
		o.data = view{row: c.New}
		if full {
			o.data.fill, o.old = c.Old, c.Old
		}
		keyRow, fallback = c.New, c.Old
	case cdc.Delete:
		if c.Old == nil {
			o.rel, o.raw = nil, []byte("{}")
			break
		}
		o.data = view{row: c.Old, keyOnly: c.OldIsKey}
		keyRow = c.Old
	}
	o.orderKey = r.orderKey(ri.keyIdx, keyRow, fallback)
	return o
}

// txOrigin starts an origin at the open transaction's position.
func (r *Router) txOrigin(table string, index int) origin {
	return origin{
		table:  table,
		index:  index,
		lsn:    r.tx.commitLSN,
		lsnStr: r.tx.lsn,
		at:     r.tx.commitTime,
	}
}

// orderKey encodes the replica identity values of row: the JSON value of
// a single key column, a JSON array for several. For an update that
// changes the key, the new key is used. A key value the server did not
// send (unchanged TOAST) is taken from fallback; when it is still unknown,
// or the table has no key, the event has no ordering constraint ("").
func (r *Router) orderKey(keyIdx []int, row, fallback cdc.Row) string {
	if len(keyIdx) == 0 || row == nil {
		return ""
	}
	buf, ok := appendRowKey(r.b.id[:0], keyIdx, row, fallback)
	r.b.id = buf[:0]
	if !ok {
		return ""
	}
	return string(buf)
}

func appendRowKey(dst []byte, keyIdx []int, row, fallback cdc.Row) ([]byte, bool) {
	if len(keyIdx) > 1 {
		dst = append(dst, '[')
	}
	for n, i := range keyIdx {
		if n > 0 {
			dst = append(dst, ',')
		}
		v := row[i]
		if _, ok := v.(cdc.Unchanged); ok && fallback != nil {
			v = fallback[i]
		}
		var err error
		if dst, err = appendValue(dst, v); err != nil {
			return dst, false
		}
	}
	if len(keyIdx) > 1 {
		dst = append(dst, ']')
	}
	return dst, true
}

// route sends o as event name to every subscription of its table to it.
func (r *Router) route(ctx context.Context, o *origin, name string) error {
	subs, err := r.src.Lookup(ctx, o.table, name)
	if err != nil {
		return fmt.Errorf("look up subscriptions of %s to %s: %w", o.table, name, err)
	}
	o.name = name
	return r.emitAll(ctx, subs, o)
}

// emitAll emits o to each subscription.
func (r *Router) emitAll(ctx context.Context, subs []*Subscription, o *origin) error {
	for _, sub := range subs {
		if err := r.emit(ctx, sub, o); err != nil {
			return err
		}
	}
	return nil
}

// emit builds and hands over one event of the stream, or drops it when the
// subscription is inactive or walhook is paused in skip mode. A failure to
// build is recorded and settled; only a failed hand-over is returned.
func (r *Router) emit(ctx context.Context, sub *Subscription, o *origin) error {
	if !sub.Active {
		r.m.dropInactive.Inc()
		r.tx.dropped++
		return nil
	}
	p := r.pause.Load()
	if p.Paused && p.Mode == PauseSkip {
		r.m.dropPaused.Inc()
		r.tx.dropped++
		r.window.skipped++
		return nil
	}
	ev, err := r.b.build(sub, o)
	if err == nil && sub.Endpoint == nil {
		err = fmt.Errorf("subscription %s has no endpoint", sub.Key)
	}
	if err != nil {
		r.fail(ev, err.Error(), r.m.failBuild)
		r.tx.failed++
		return nil
	}
	if p.Paused && r.holder != nil {
		return r.hold(ctx, ev)
	}
	return r.submit(ctx, ev)
}

func (r *Router) submit(ctx context.Context, ev *deliver.Event) error {
	r.tx.txn.Add()
	ev.Settle = r.tx.settle
	if err := r.sub.Submit(ctx, ev); err != nil {
		return fmt.Errorf("submit event %s: %w", ev.ID, err)
	}
	r.m.submitted.Inc()
	r.tx.submitted++
	return nil
}

// hold queues ev for the Holder; the queue is handed over when full, when
// the pause ends and at Commit, always before the transaction is sealed.
// Like a submitted event, ev counts in its transaction until the Holder
// settles it.
func (r *Router) hold(ctx context.Context, ev *deliver.Event) error {
	r.tx.txn.Add()
	ev.Settle = r.tx.settle
	r.tx.heldEvents = append(r.tx.heldEvents, deliver.Parked{Event: ev, NextAttempt: holdUntil})
	r.m.held.Inc()
	r.tx.held++
	r.window.held++
	if len(r.tx.heldEvents) >= holdBatch {
		return r.flushHeld(ctx)
	}
	return nil
}

func (r *Router) flushHeld(ctx context.Context) error {
	if len(r.tx.heldEvents) == 0 {
		return nil
	}
	if err := r.holder.Hold(ctx, r.tx.heldEvents); err != nil {
		return fmt.Errorf("hold %d events of transaction at %s: %w", len(r.tx.heldEvents), r.tx.lsn, err)
	}
	clear(r.tx.heldEvents)
	r.tx.heldEvents = r.tx.heldEvents[:0]
	return nil
}

// fail records an event that could not be built: a failed attempt numbered
// 0 whose error is the reason. The event counts as settled. fail is safe
// for concurrent use.
func (r *Router) fail(ev *deliver.Event, reason string, c prometheus.Counter) {
	c.Inc()
	l := r.log.Error().Str("event_id", ev.ID).Str("event", ev.Name).Str("table", ev.Table)
	if ev.Endpoint != nil {
		l = l.Str("subscriber", ev.Endpoint.Subscriber)
	}
	l.Str("reason", reason).Msg("event failed")
	if r.rec != nil {
		r.rec.Record(deliver.Attempt{Event: ev, Number: 0, Error: reason, At: r.now()})
	}
}

// truncate routes a `truncated` event, without data, to the subscriptions
// of each truncated table; a truncate nobody subscribed to is logged and
// counted.
func (r *Router) truncate(ctx context.Context, c *cdc.Change) error {
	followed := false
	for _, rel := range c.Relations {
		ri := r.info(rel)
		if ri.role == roleSubscriptions {
			if !followed {
				r.subscriptionsChanged(c)
				followed = true
			}
			continue
		}
		if ri.role != roleApp || r.silenced() {
			continue
		}
		if err := r.truncateOne(ctx, ri, c.Index); err != nil {
			return err
		}
	}
	return nil
}

func (r *Router) truncateOne(ctx context.Context, ri *relInfo, index int) error {
	subs, err := r.src.Lookup(ctx, ri.table, EventTruncated)
	if err != nil {
		return fmt.Errorf("look up subscriptions of %s to %s: %w", ri.table, EventTruncated, err)
	}
	if len(subs) == 0 {
		r.m.truncates.Inc()
		r.log.Info().Str("table", ri.table).Str("lsn", r.tx.lsn).Msg("table truncated; no subscription to truncated")
		return nil
	}
	o := r.txOrigin(ri.table, index)
	o.name, o.noData = EventTruncated, true
	return r.emitAll(ctx, subs, &o)
}
