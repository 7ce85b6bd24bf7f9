package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Send routes a manual event (`walhook send`, the admin API): it reads
// the row of table with key through the RowReader and submits event to
// every active subscription of the table to it. Event ids are random,
// prefixed "evt_m_"; the payload has no "lsn" and occurred_at is now.
// eventContext, when given, must be a JSON object.
//
// It returns how many events were submitted. Errors say what is wrong:
// table not captured, unknown event, webhooks disabled or paused, no row
// with that key, no active subscription. Events that cannot be built are
// recorded as failed, and joined into the error, while the others are
// still submitted. Send is safe for concurrent use with the stream.
func (r *Router) Send(ctx context.Context, table string, key map[string]any, event string, eventContext json.RawMessage) (int, error) {
	ctxJSON, err := r.checkSend(table, key, event, eventContext)
	if err != nil {
		return 0, err
	}
	rel, row, found, err := r.rows.ReadRow(ctx, table, key)
	if err != nil {
		return 0, fmt.Errorf("send %s: read %s: %w", event, table, err)
	}
	if !found {
		return 0, fmt.Errorf("send %s: no row of %s has key %s", event, table, keyString(key))
	}
	subs, err := r.src.Lookup(ctx, table, event)
	if err != nil {
		return 0, fmt.Errorf("send %s: look up subscriptions of %s: %w", event, table, err)
	}
	if !anyActive(subs) {
		return 0, fmt.Errorf("send %s: no active subscription of %s to %s", event, table, event)
	}
	o := origin{name: event, table: table, manual: true, at: r.now(), context: ctxJSON}
	o.rel, o.data.row = rel, row
	o.ident = identity(o.rel)
	o.orderKey = messageKey(rel, key) // the table's key order, as the stream's
	return r.sendAll(ctx, subs, &o)
}

func (r *Router) checkSend(table string, key map[string]any, event string, eventContext json.RawMessage) (json.RawMessage, error) {
	switch {
	case table == r.controlTable || r.subTables[table]:
		return nil, fmt.Errorf("send %s: %s is walhook's own table and never sends webhooks", event, table)
	case r.tables != nil && !r.tables[table]:
		return nil, fmt.Errorf("send %s: table %s is not captured: choose one of %s", event, table, strings.Join(r.tableList(), ", "))
	case !r.knownEvent(table, event):
		return nil, fmt.Errorf("send: %w", unknownEvent(table, event))
	case r.disabled:
		return nil, fmt.Errorf("send %s: webhooks are disabled (disabled: true in the configuration)", event)
	case r.State().Paused:
		return nil, fmt.Errorf("send %s: walhook is paused (%s mode): run walhook resume first", event, r.State().Mode)
	case r.rows == nil:
		return nil, fmt.Errorf("send %s: no row reader configured", event)
	case len(key) == 0:
		return nil, fmt.Errorf(`send %s: a key is required, e.g. {"id":456}`, event)
	}
	ctxJSON, err := compactObject(eventContext)
	if err != nil {
		return nil, fmt.Errorf("send %s: context: %w", event, err)
	}
	return ctxJSON, nil
}

func (r *Router) sendAll(ctx context.Context, subs []*Subscription, o *origin) (int, error) {
	var b builder
	var errs []error
	n := 0
	for _, sub := range subs {
		if !sub.Active {
			continue
		}
		ev, err := b.build(sub, o)
		if err == nil && sub.Endpoint == nil {
			err = fmt.Errorf("subscription %s has no endpoint", sub.Key)
		}
		if err != nil {
			r.fail(ev, err.Error(), r.m.failBuild)
			errs = append(errs, fmt.Errorf("send %s to %s: %w", o.name, sub.Subscriber, err))
			continue
		}
		if err := r.sub.Submit(ctx, ev); err != nil {
			return n, fmt.Errorf("send %s: submit event %s: %w", o.name, ev.ID, err)
		}
		r.m.submitted.Inc()
		n++
	}
	return n, errors.Join(errs...)
}

func (r *Router) tableList() []string {
	out := make([]string, 0, len(r.tables))
	for t := range r.tables {
		if t != r.controlTable && !r.subTables[t] {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

func keyString(key map[string]any) string {
	b, err := appendValue(nil, key)
	if err != nil {
		return fmt.Sprint(key)
	}
	return string(b)
}
