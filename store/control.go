package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotFound is returned when a subscriber or subscription id does not
// exist.
var ErrNotFound = errors.New("not found")

// PauseState is the control row: walhook's global pause switch.
type PauseState struct {
	Paused bool
	// Mode is "skip" (drop the window's events) or "hold" (park them until
	// resume).
	Mode      string
	UpdatedAt time.Time
	UpdatedBy string
}

// SetPause writes the control row. The row is in the publication, so the
// switch takes effect where this transaction lands in the WAL. mode must
// be "skip" or "hold" ("" keeps the current mode); by names who did it.
func (db *DB) SetPause(ctx context.Context, paused bool, mode, by string) error {
	if mode != "" && mode != "skip" && mode != "hold" {
		return fmt.Errorf("set pause: mode %q is unknown; use skip (drop events while paused) or hold (deliver them after resume)", mode)
	}
	_, err := db.pool.Exec(ctx, db.render(`UPDATE {{schema}}.control
SET paused = $1, mode = coalesce(nullif($2, ''), mode), updated_at = now(), updated_by = $3 WHERE id = 1`),
		paused, mode, by)
	if err != nil {
		return fmt.Errorf("set pause: %w", err)
	}
	return nil
}

// PauseState reads the control row.
func (db *DB) PauseState(ctx context.Context) (PauseState, error) {
	var p PauseState
	err := db.pool.QueryRow(ctx, db.render(`SELECT paused, mode, updated_at, updated_by FROM {{schema}}.control WHERE id = 1`)).
		Scan(&p.Paused, &p.Mode, &p.UpdatedAt, &p.UpdatedBy)
	if err != nil {
		return p, fmt.Errorf("read pause state: %w", err)
	}
	return p, nil
}

// SetSubscriberActive switches a subscriber on or off. Switching on (also
// after an auto-disable) resets its failure streaks and releases the
// events held for it ('disabled' rows become pending, due now); a trigger
// does this, so a plain SQL UPDATE of is_active behaves the same.
// Switching off drops its future events (they are not held) and clears any
// auto-disable. It returns ErrNotFound for an unknown id.
func (db *DB) SetSubscriberActive(ctx context.Context, id int64, active bool) error {
	tag, err := db.pool.Exec(ctx, db.render(`UPDATE {{schema}}.subscribers SET is_active = $2,
    disabled_reason = CASE WHEN $2 THEN NULL ELSE 'deactivated' END,
    auto_disabled_at = NULL, updated_at = now()
WHERE id = $1`), id, active)
	if err != nil {
		return fmt.Errorf("set subscriber %d active=%t: %w", id, active, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set subscriber %d active=%t: %w", id, active, ErrNotFound)
	}
	db.health.reset(id)
	db.afterSubscriberChange(ctx, id)
	return nil
}

// SetSubscriptionActive switches one subscription on or off.
func (db *DB) SetSubscriptionActive(ctx context.Context, id int64, active bool) error {
	tag, err := db.pool.Exec(ctx, db.render(`UPDATE {{schema}}.subscriptions SET is_active = $2, updated_at = now() WHERE id = $1`), id, active)
	if err != nil {
		return fmt.Errorf("set subscription %d active=%t: %w", id, active, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set subscription %d active=%t: %w", id, active, ErrNotFound)
	}
	db.Invalidate("")
	db.wake()
	return nil
}

// afterSubscriberChange updates in-memory state at once rather than
// waiting for the change to come back through the WAL.
func (db *DB) afterSubscriberChange(ctx context.Context, subscriberID int64) {
	db.Invalidate("")
	if err := db.RefreshParked(ctx); err != nil {
		db.log.Warn().Err(err).Int64("subscriber_id", subscriberID).Msg("refresh parked rows after subscriber change")
	}
	db.wake()
}

// Leader is a held leader lock (see AcquireLeader).
type Leader struct {
	conn *pgx.Conn
	slot string
}

// AcquireLeader blocks until this process holds the leader lock for slot
// (a session advisory lock on a dedicated connection), or ctx ends, then
// reloads the per-row order set (RefreshParked) so that the new leader
// sees what its predecessor parked. Other
// processes wait in AcquireLeader and take over when the holder releases
// the lock or its connection dies. release unlocks and closes the
// connection; it is safe to call more than once.
func (db *DB) AcquireLeader(ctx context.Context, slot string) (release func(), err error) {
	l, err := db.Leader(ctx, slot)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// Leader is AcquireLeader returning the lock itself, whose Watch notices
// when the lock is lost.
func (db *DB) Leader(ctx context.Context, slot string) (*Leader, error) {
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("acquire leader lock for slot %q: connect: %w", slot, err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended('walhook.leader:' || $1, 0))`, slot); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("acquire leader lock for slot %q: %w", slot, err)
	}
	l := &Leader{conn: conn, slot: slot}
	// A new leader must see the rows its predecessor parked before it
	// routes anything, or per-row order could break.
	if err := db.RefreshParked(ctx); err != nil {
		l.Release()
		return nil, fmt.Errorf("acquire leader lock for slot %q: %w", slot, err)
	}
	return l, nil
}

// Release gives the lock up.
func (l *Leader) Release() {
	if l.conn.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = l.conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended('walhook.leader:' || $1, 0))`, l.slot)
	_ = l.conn.Close(ctx)
}

// Watch checks the lock's connection every interval and returns an error
// when it is lost (then another process may already lead: stop streaming),
// or nil when ctx ends.
func (l *Leader) Watch(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, interval)
		err := l.conn.Ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("leader lock for slot %q lost: %w", l.slot, err)
		}
	}
}
