package router

import (
	"context"
	"fmt"

	"github.com/walhook/walhook/cdc"
)

// Releaser is implemented by a Holder that releases held events when told
// to. The router calls ReleaseHeld at the exact point of the stream where the
// pause ends (after handing over what it still held), so events of the
// window that the stream reached late are never stranded; ReleaseHeld
// must first wait for events handed over but not yet held (see Holder).
// A Holder that does not implement it must release held events itself.
type Releaser interface {
	ReleaseHeld(ctx context.Context) (int64, error)
}

// applyControl switches the pause state at the point of the stream where
// walhook's control row changed. The row's paused (boolean) and mode
// ('skip' or 'hold') columns give the new state; a deleted row means not
// paused; a mode other than 'skip' is taken as 'hold', which loses nothing.
func (r *Router) applyControl(ctx context.Context, c *cdc.Change) error {
	next := Pause{}
	if c.Kind != cdc.Delete {
		next = controlState(c.Relation, c.New)
	}
	prev := *r.pause.Load()
	if c.Old != nil && !c.OldIsKey {
		if was := controlState(c.Relation, c.Old); was != prev {
			// Without a Follower, the state read at start-up is the
			// table's latest, which can be ahead of a stream that resumes
			// behind a switch.
			r.log.Warn().Str("lsn", r.tx.lsn).Bool("assumed_paused", prev.Paused).Bool("was_paused", was.Paused).
				Msg("pause state before this switch differed from the one assumed at start")
		}
	}
	if prev == next {
		return nil
	}
	if prev.Paused && prev.Mode == PauseHold && r.holder != nil {
		if err := r.release(ctx); err != nil {
			return err
		}
	}
	r.pause.Store(&next)
	r.logSwitch(prev, next)
	return nil
}

func controlState(rel *cdc.Relation, row cdc.Row) Pause {
	var p Pause
	if i := rel.ColumnIndex("paused"); i >= 0 {
		p.Paused, _ = row[i].(bool)
	}
	if !p.Paused {
		return Pause{}
	}
	p.Mode = PauseHold
	if i := rel.ColumnIndex("mode"); i >= 0 {
		if m, _ := row[i].(string); m == string(PauseSkip) {
			p.Mode = PauseSkip
		}
	}
	return p
}

// release hands over held events, then asks the Holder to release the
// window's events.
func (r *Router) release(ctx context.Context) error {
	if err := r.flushHeld(ctx); err != nil {
		return err
	}
	rel, ok := r.holder.(Releaser)
	if !ok {
		return nil
	}
	n, err := rel.ReleaseHeld(ctx)
	if err != nil {
		return fmt.Errorf("release held events at %s: %w", r.tx.lsn, err)
	}
	r.log.Info().Str("lsn", r.tx.lsn).Int64("released", n).Msg("held events released")
	return nil
}

func (r *Router) logSwitch(prev, next Pause) {
	if prev.Paused {
		r.log.Info().Str("lsn", r.tx.lsn).Str("mode", string(prev.Mode)).Stringer("paused_at", r.window.since).
			Int("skipped", r.window.skipped).Int("held", r.window.held).Msg("pause ended")
	}
	r.window = windowCount{since: r.tx.commitLSN}
	if !next.Paused {
		return
	}
	l := r.log.Info()
	if next.Mode == PauseHold && r.holder == nil {
		l = r.log.Warn().Str("note", "no holder configured: events are delivered as if not paused")
	}
	l.Str("lsn", r.tx.lsn).Str("mode", string(next.Mode)).Msg("paused")
}

// subscriptionsChanged hands a change of walhook's subscription tables to
// a Follower source, or else invalidates what the Source cached.
func (r *Router) subscriptionsChanged(c *cdc.Change) {
	r.m.invalidations.Inc()
	if f, ok := r.src.(Follower); ok {
		f.Apply(c)
		r.tx.followed = true
		return
	}
	if c.Kind == cdc.Truncate {
		r.src.Invalidate("")
		return
	}
	r.invalidate(c)
}

// invalidate tells the Source that walhook's subscription tables changed,
// naming the application table when the changed row has a table_name (or
// table) column, else everything.
func (r *Router) invalidate(c *cdc.Change) {
	named := false
	for _, row := range []cdc.Row{c.New, c.Old} {
		if t := tableColumn(c.Relation, row); t != "" {
			r.src.Invalidate(t)
			named = true
		}
	}
	if !named {
		r.src.Invalidate("")
	}
}

func tableColumn(rel *cdc.Relation, row cdc.Row) string {
	if row == nil {
		return ""
	}
	for _, name := range []string{"table_name", "table"} {
		if i := rel.ColumnIndex(name); i >= 0 {
			s, _ := row[i].(string)
			return s
		}
	}
	return ""
}
