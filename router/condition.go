package router

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/config"
)

// Condition operators (config.Condition.Op).
const (
	OpEq          = "eq"
	OpNe          = "ne"
	OpChangedTo   = "changed_to"
	OpChangedFrom = "changed_from"
	OpIsNull      = "is_null"
	OpNotNull     = "not_null"
)

// condEvent is a compiled conditional event.
type condEvent struct {
	name          string
	table         string
	on            cdc.Kind
	whenChanged   []string
	ignoreChanged []string
	where         []config.Condition
	needsOld      bool
}

// boundEvent is a condEvent's columns resolved in one Relation.
type boundEvent struct {
	*condEvent
	rel          *cdc.Relation
	when, ignore []int
	where        []int
	missing      string
}

func compileEvent(ev *config.Event) (*condEvent, error) {
	ce := &condEvent{
		name: ev.Name, table: ev.Table,
		whenChanged: ev.WhenChanged, ignoreChanged: ev.IgnoreChanged,
		where: ev.Where, needsOld: NeedsOldValues(*ev),
	}
	switch ev.On {
	case EventCreated:
		ce.on = cdc.Insert
	case EventUpdated:
		ce.on = cdc.Update
	case EventDeleted:
		ce.on = cdc.Delete
	default:
		return nil, fmt.Errorf("event %s (line %d): on %q: write created, updated or deleted", ev.Name, ev.Line, ev.On)
	}
	for _, c := range ev.Where {
		switch c.Op {
		case OpEq, OpNe, OpChangedTo, OpChangedFrom, OpIsNull, OpNotNull:
		default:
			return nil, fmt.Errorf("event %s (line %d): condition on %s: unknown op %q: write eq, ne, changed_to, changed_from, is_null or not_null", ev.Name, ev.Line, c.Column, c.Op)
		}
	}
	return ce, nil
}

// NeedsOldValues reports whether a conditional event needs the old values
// of a row, which the server sends only for tables with REPLICA IDENTITY
// FULL: an updated event with when_changed, ignore_changed, a condition on
// an old value or a changed_to/changed_from condition, or a deleted event
// with any condition (the server otherwise sends only the deleted row's
// key). Start-up should refuse such an event on a table without REPLICA
// IDENTITY FULL; at run time the Router records a failed event instead of
// guessing.
func NeedsOldValues(ev config.Event) bool {
	switch ev.On {
	case EventUpdated:
		if len(ev.WhenChanged) > 0 || len(ev.IgnoreChanged) > 0 {
			return true
		}
		for _, c := range ev.Where {
			if c.Old || c.Op == OpChangedTo || c.Op == OpChangedFrom {
				return true
			}
		}
	case EventDeleted:
		return len(ev.Where) > 0
	}
	return false
}

func (ce *condEvent) bind(rel *cdc.Relation) *boundEvent {
	be := &boundEvent{condEvent: ce, rel: rel}
	be.when = be.resolve(ce.whenChanged)
	be.ignore = be.resolve(ce.ignoreChanged)
	cols := make([]string, len(ce.where))
	for i, c := range ce.where {
		cols[i] = c.Column
	}
	be.where = be.resolve(cols)
	return be
}

func (be *boundEvent) resolve(cols []string) []int {
	out := make([]int, len(cols))
	for i, c := range cols {
		out[i] = be.rel.ColumnIndex(c)
		if out[i] < 0 && be.missing == "" {
			be.missing = c
		}
	}
	return out
}

// conditional evaluates a conditional event on a row change and routes it
// when it fires; when it cannot be decided, every active subscription to it
// gets a failed event with the reason.
func (r *Router) conditional(ctx context.Context, be *boundEvent, c *cdc.Change, o *origin) error {
	fire, why := be.eval(c)
	if why != "" {
		return r.failEvent(ctx, o, be.name, why+o.where(), r.m.failOldValues)
	}
	if !fire {
		return nil
	}
	return r.route(ctx, o, be.name)
}

// failEvent records a failed event named name for every active
// subscription to it, counted on c.
func (r *Router) failEvent(ctx context.Context, o *origin, name, reason string, c prometheus.Counter) error {
	subs, err := r.src.Lookup(ctx, o.table, name)
	if err != nil {
		return fmt.Errorf("look up subscriptions of %s to %s: %w", o.table, name, err)
	}
	o.name = name
	for _, sub := range subs {
		if !sub.Active {
			continue
		}
		ev := r.b.bare(sub, o)
		r.fail(ev, reason, c)
		r.tx.failed++
	}
	return nil
}

// eval decides whether the event fires for c. A non-empty reason means it
// cannot be decided: a column is missing or old values are unknown.
func (be *boundEvent) eval(c *cdc.Change) (fire bool, reason string) {
	if be.missing != "" {
		return false, fmt.Sprintf("event %s: column %s not in %s: fix the event's conditions", be.name, be.missing, be.table)
	}
	row, old, why := be.rows(c)
	if why != "" {
		return false, why
	}
	if c.Kind == cdc.Update && !be.changedOK(old, row) {
		return false, ""
	}
	for i, cond := range be.where {
		ok, why := be.holds(be.condEvent.where[i], cond, row, old)
		if why != "" || !ok {
			return false, why
		}
	}
	return true, ""
}

// rows returns the row a condition reads as "new" and the old row when
// the event needs it: for a deleted event both are the deleted row.
func (be *boundEvent) rows(c *cdc.Change) (row, old cdc.Row, reason string) {
	full := c.Old != nil && !c.OldIsKey
	switch c.Kind {
	case cdc.Insert:
		return c.New, nil, ""
	case cdc.Update:
		if be.needsOld && !full {
			return nil, nil, be.needsOldReason()
		}
		if full {
			return c.New, c.Old, ""
		}
		return c.New, nil, ""
	}
	if c.Old == nil || c.OldIsKey && !be.keyOnlyOK() {
		return nil, nil, be.needsOldReason()
	}
	return c.Old, c.Old, ""
}

func (be *boundEvent) needsOldReason() string {
	return fmt.Sprintf("event %s needs the old values of %s, which the server did not send: run ALTER TABLE %s REPLICA IDENTITY FULL", be.name, be.table, be.table)
}

// keyOnlyOK reports whether every condition reads only key columns.
func (be *boundEvent) keyOnlyOK() bool {
	for _, i := range be.where {
		if !be.rel.Columns[i].Key {
			return false
		}
	}
	return true
}

// changedOK applies when_changed and ignore_changed to an update.
func (be *boundEvent) changedOK(old, row cdc.Row) bool {
	if len(be.when) > 0 {
		hit := false
		for _, i := range be.when {
			if columnChanged(old, row, i) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	if len(be.ignore) == 0 {
		return true
	}
	for i := range row {
		if columnChanged(old, row, i) && !contains(be.ignore, i) {
			return true
		}
	}
	return false
}

func columnChanged(old, row cdc.Row, i int) bool {
	if _, ok := row[i].(cdc.Unchanged); ok {
		return false
	}
	return !equalValue(old[i], row[i])
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// holds evaluates one condition. For a created event, old values do not
// exist: a condition on one never holds, changed_to means eq and
// changed_from never holds. For a deleted event, changed_to and
// changed_from never hold.
func (be *boundEvent) holds(c config.Condition, i int, row, old cdc.Row) (bool, string) {
	nv, ok := known(row, old, i)
	if !ok {
		return false, fmt.Sprintf("event %s: column %s of %s was not sent (unchanged TOAST value) and its old value is unknown: run ALTER TABLE %s REPLICA IDENTITY FULL", be.name, c.Column, be.table, be.table)
	}
	if c.Old && old == nil {
		return false, ""
	}
	v := nv
	if c.Old {
		v = old[i]
	}
	switch c.Op {
	case OpEq:
		return valueMatches(v, c.Value), ""
	case OpNe:
		return !valueMatches(v, c.Value), ""
	case OpIsNull:
		return v == nil, ""
	case OpNotNull:
		return v != nil, ""
	case OpChangedTo:
		if be.on == cdc.Delete {
			return false, ""
		}
		return valueMatches(nv, c.Value) && (old == nil || !valueMatches(old[i], c.Value)), ""
	case OpChangedFrom:
		if be.on != cdc.Update || old == nil {
			return false, ""
		}
		return valueMatches(old[i], c.Value) && !valueMatches(nv, c.Value), ""
	}
	return false, ""
}

// known returns row[i], taking an unchanged TOAST value from old.
func known(row, old cdc.Row, i int) (any, bool) {
	v := row[i]
	if _, ok := v.(cdc.Unchanged); !ok {
		return v, true
	}
	if old == nil {
		return nil, false
	}
	v = old[i]
	_, unchanged := v.(cdc.Unchanged)
	return v, !unchanged
}

// valueMatches compares a column value with a constant from the file:
// numbers by value whatever their Go type, timestamps by instant,
// strings exactly, anything else by its JSON encoding.
func valueMatches(got, want any) bool {
	if got == nil || want == nil {
		return got == nil && want == nil
	}
	if g, ok := numberOf(got, false); ok {
		w, ok := numberOf(want, true)
		return ok && g.Cmp(w) == 0
	}
	switch g := got.(type) {
	case string:
		w, ok := want.(string)
		return ok && g == w
	case bool:
		w, ok := want.(bool)
		return ok && g == w
	case time.Time:
		return timeMatches(g, want)
	}
	a, err1 := appendValue(nil, got)
	b, err2 := appendValue(nil, want)
	return err1 == nil && err2 == nil && string(a) == string(b)
}

func timeMatches(got time.Time, want any) bool {
	switch w := want.(type) {
	case time.Time:
		return got.Equal(w)
	case string:
		t, err := time.Parse(time.RFC3339Nano, w)
		return err == nil && got.Equal(t)
	}
	return false
}

// numberOf returns v as an exact rational when it is a number, or, with
// fromString, a string that spells one.
func numberOf(v any, fromString bool) (*big.Rat, bool) {
	switch x := v.(type) {
	case int64:
		return new(big.Rat).SetInt64(x), true
	case int:
		return new(big.Rat).SetInt64(int64(x)), true
	case int32:
		return new(big.Rat).SetInt64(int64(x)), true
	case uint64:
		return new(big.Rat).SetUint64(x), true
	case float64:
		r := new(big.Rat)
		if r.SetFloat64(x) == nil {
			return nil, false
		}
		return r, true
	case json.Number:
		return new(big.Rat).SetString(string(x))
	case string:
		if !fromString {
			return nil, false
		}
		if _, err := strconv.ParseFloat(x, 64); err != nil {
			return nil, false
		}
		return new(big.Rat).SetString(x)
	}
	return nil, false
}
