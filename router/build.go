package router

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/deliver"
)

// origin is what an event is made of, shared by every subscription it
// goes to.
type origin struct {
	name  string
	table string
	// index is the change's position in its transaction; manual events
	// have none.
	index  int
	manual bool
	lsn    cdc.LSN
	lsnStr string // "" leaves "lsn" out of the payload
	at     time.Time

	// rel and data give the row; ident is rel's identity projection.
	rel   *cdc.Relation
	ident *Projection
	data  view
	// old is the whole old row when known: it gives "previous" and
	// "changed".
	old cdc.Row
	// raw is data given verbatim (a message's data) when rel is nil.
	raw []byte
	// noData leaves "data" out (truncated).
	noData bool

	orderKey string
	context  []byte
}

// builder holds scratch buffers for building events; one per goroutine.
type builder struct {
	body      []byte
	id        []byte
	unchanged []int
}

// build makes sub's event for o. On error the event is returned without a
// body, for the failure record.
func (b *builder) build(sub *Subscription, o *origin) (*deliver.Event, error) {
	ev := b.bare(sub, o)
	body, err := b.appendBody(b.body[:0], ev.ID, sub, o)
	b.body = body[:0]
	if err != nil {
		return ev, err
	}
	ev.Body = bytes.Clone(body)
	return ev, nil
}

// bare makes sub's event for o without a body.
func (b *builder) bare(sub *Subscription, o *origin) *deliver.Event {
	if o.manual {
		b.id = appendManualID(b.id[:0])
	} else {
		b.id = appendEventID(b.id[:0], o.lsn, o.index, sub.Key)
	}
	return &deliver.Event{
		ID:         string(b.id),
		Name:       o.name,
		Table:      o.table,
		Endpoint:   sub.Endpoint,
		OrderKey:   o.orderKey,
		CommitTime: o.at,
	}
}

// appendBody writes the payload of DESIGN.md, keys in this order: id,
// event, table, occurred_at, lsn, data, previous, changed, unchanged,
// context.
func (b *builder) appendBody(dst []byte, id string, sub *Subscription, o *origin) ([]byte, error) {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, id)
	dst = append(dst, `,"event":`...)
	dst = appendString(dst, o.name)
	dst = append(dst, `,"table":`...)
	dst = appendString(dst, o.table)
	dst = append(dst, `,"occurred_at":"`...)
	dst = appendTime(dst, o.at.UTC())
	dst = append(dst, '"')
	if o.lsnStr != "" {
		dst = append(dst, `,"lsn":"`...)
		dst = append(dst, o.lsnStr...)
		dst = append(dst, '"')
	}
	var err error
	switch {
	case o.noData:
	case o.rel == nil:
		dst = append(dst, `,"data":`...)
		dst, err = appendValue(dst, rawOrNull(o.raw))
	default:
		dst, err = b.appendRow(dst, sub, o)
	}
	if err != nil {
		return dst, err
	}
	if len(o.context) > 0 {
		dst = append(dst, `,"context":`...)
		dst = append(dst, o.context...)
	}
	return append(dst, '}'), nil
}

// appendRow writes data, and previous, changed and unchanged when they
// apply.
func (b *builder) appendRow(dst []byte, sub *Subscription, o *origin) ([]byte, error) {
	p := sub.Projection
	if p == nil {
		p = o.ident
	}
	bd := p.bind(o.rel)
	if bd.missing != "" {
		return dst, fmt.Errorf("column %s not in %s%s: the projection names a column the table does not have (dropped or renamed?); fix the projection", bd.missing, o.table, o.where())
	}
	b.unchanged = b.unchanged[:0]
	dst = append(dst, `,"data":`...)
	dst, err := p.appendData(dst, bd, &o.data, &b.unchanged)
	if err != nil {
		return dst, fmt.Errorf("encode %s%s: %w", o.table, o.where(), err)
	}
	if o.old != nil {
		dst = append(dst, `,"previous":`...)
		if dst, err = p.appendData(dst, bd, &view{row: o.old}, nil); err != nil {
			return dst, fmt.Errorf("encode previous row of %s%s: %w", o.table, o.where(), err)
		}
		dst = append(dst, `,"changed":`...)
		dst = p.appendChanged(dst, bd, o.old, o.data.row)
	}
	if len(b.unchanged) > 0 {
		dst = append(dst, `,"unchanged":`...)
		dst = p.appendPaths(dst, b.unchanged)
	}
	return dst, nil
}

// where says where the event comes from, for error messages.
func (o *origin) where() string {
	if o.manual {
		return " (manual send)"
	}
	return fmt.Sprintf(" at LSN %s (change %d)", o.lsnStr, o.index)
}

func rawOrNull(raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	return json.RawMessage(raw)
}
