package cdc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// session is one replication connection's life.
type session struct {
	s        *Stream
	h        Handler
	p        *progress
	conn     *pgconn.PgConn
	dec      *decoder
	sql      *sqlConn
	nextStat time.Time
	nextBeat time.Time
	walEnd   LSN

	// The receive context is reused until its deadline changes: one timer
	// per status interval, not one per message.
	rctx      context.Context
	rcancel   context.CancelFunc
	rdeadline time.Time
}

// session connects, starts replication at p.resume and streams until the
// connection fails or ctx ends. started is called once the server accepted
// START_REPLICATION.
func (s *Stream) session(ctx context.Context, h Handler, p *progress, types *typeResolver, sql *sqlConn, started func()) error {
	conn, err := connectReplication(ctx, s.o.DSN)
	if err != nil {
		return err
	}
	defer closeConn(ctx, conn)
	if err := pglogrepl.StartReplication(ctx, conn, s.o.Slot, p.resume, startOptions(s.o.Publication)); err != nil {
		return fmt.Errorf("start replication on slot %q at %s: %w", s.o.Slot, p.resume, err)
	}
	started()
	s.o.Logger.Info().Str("slot", s.o.Slot).Str("publication", s.o.Publication).Stringer("lsn", p.resume).Msg("replication started")
	ss := &session{s: s, h: h, p: p, conn: conn, dec: newDecoder(types), sql: sql}
	defer func() {
		if ctx.Err() != nil {
			ss.shutdown(ctx)
		}
		ss.finalStatus(ctx)
	}()
	return ss.run(ctx)
}

func (ss *session) run(ctx context.Context) error {
	defer func() {
		if ss.rcancel != nil {
			ss.rcancel()
		}
	}()
	now := time.Now()
	ss.nextStat = now
	ss.nextBeat = now.Add(ss.s.o.HeartbeatInterval)
	for {
		if err := ss.tick(ctx); err != nil {
			return err
		}
		deadline := ss.nextStat
		if ss.s.o.HeartbeatInterval > 0 && ss.nextBeat.Before(deadline) {
			deadline = ss.nextBeat
		}
		msg, err := ss.conn.ReceiveMessage(ss.receiveContext(ctx, deadline))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if pgconn.Timeout(err) {
				continue // time for a status update or a heartbeat
			}
			return fmt.Errorf("receive replication message: %w", err)
		}
		if err := ss.receive(ctx, msg); err != nil {
			return err
		}
	}
}

// receiveContext returns a context ending at deadline.
func (ss *session) receiveContext(ctx context.Context, deadline time.Time) context.Context {
	if ss.rctx == nil || ss.rctx.Err() != nil || !deadline.Equal(ss.rdeadline) {
		if ss.rcancel != nil {
			ss.rcancel()
		}
		ss.rctx, ss.rcancel = context.WithDeadline(ctx, deadline)
		ss.rdeadline = deadline
	}
	return ss.rctx
}

// tick sends the status update and the heartbeat when they are due.
func (ss *session) tick(ctx context.Context) error {
	now := time.Now()
	if !now.Before(ss.nextStat) {
		if err := ss.sendStatus(false); err != nil {
			return err
		}
	}
	if ss.s.o.HeartbeatInterval > 0 && !now.Before(ss.nextBeat) {
		ss.nextBeat = now.Add(ss.s.o.HeartbeatInterval)
		if err := ss.sql.heartbeat(ctx); err != nil && ctx.Err() == nil {
			ss.s.m.heartbeatErrors.Inc()
			ss.s.o.Logger.Warn().Err(err).Msg("heartbeat not written; an idle database's slot may lag")
		}
	}
	return nil
}

func (ss *session) receive(ctx context.Context, msg pgproto3.BackendMessage) error {
	switch msg := msg.(type) {
	case *pgproto3.CopyData:
		return ss.copyData(ctx, msg.Data)
	case *pgproto3.ErrorResponse:
		return pgconn.ErrorResponseToPgError(msg)
	case *pgproto3.CopyDone:
		return fmt.Errorf("server ended the replication stream")
	}
	return nil
}

func (ss *session) copyData(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		k, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return &protocolError{fmt.Errorf("parse keepalive: %w", err)}
		}
		ss.serverEnd(k.ServerWALEnd)
		if !ss.p.inTxn && k.ServerWALEnd > ss.p.dispatched {
			ss.p.dispatched = k.ServerWALEnd
		}
		if k.ReplyRequested {
			return ss.sendStatus(false)
		}
	case pglogrepl.XLogDataByteID:
		x, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return &protocolError{fmt.Errorf("parse XLogData: %w", err)}
		}
		ss.serverEnd(x.ServerWALEnd)
		ss.s.m.receivedLSN.Set(float64(x.WALStart))
		return ss.walData(ctx, x.WALData)
	}
	return nil
}

func (ss *session) serverEnd(end LSN) {
	if end > ss.walEnd {
		ss.walEnd = end
	}
}

// walData decodes one pgoutput message and hands its result over.
func (ss *session) walData(ctx context.Context, data []byte) error {
	v, err := ss.dec.decode(ctx, data)
	if err != nil {
		var lookup *typeLookupError
		if errors.As(err, &lookup) {
			return err
		}
		return &protocolError{err}
	}
	switch v := v.(type) {
	case *Begin:
		ss.p.inTxn = true
		err = ss.h.Begin(ctx, v)
	case *Change:
		ss.s.m.changes[v.Kind].Inc()
		err = ss.h.Change(ctx, v)
	case *Commit:
		ss.s.m.transactions.Inc()
		err = ss.h.Commit(ctx, v)
		if err == nil {
			ss.committed(v)
		}
	}
	if err != nil {
		return &handlerError{err}
	}
	return nil
}

func (ss *session) committed(c *Commit) {
	ss.p.inTxn = false
	ss.p.resume = c.EndLSN
	if c.EndLSN > ss.p.dispatched {
		ss.p.dispatched = c.EndLSN
	}
}

// sendStatus reports the settled position as written, flushed and applied.
func (ss *session) sendStatus(reply bool) error {
	ss.nextStat = time.Now().Add(ss.s.o.StatusInterval)
	pos := ss.s.o.Settled(ss.p.dispatched)
	if pos == 0 {
		return nil
	}
	if err := writeStatus(ss.conn, pos, reply); err != nil {
		return fmt.Errorf("send standby status update: %w", err)
	}
	ss.s.m.flushedLSN.Set(float64(pos))
	if ss.walEnd > pos {
		ss.s.m.lagBytes.Set(float64(ss.walEnd - pos))
	} else {
		ss.s.m.lagBytes.Set(0)
	}
	return nil
}

// shutdown rolls back the open transaction, if any, and waits up to
// DrainTimeout for everything handed over to settle, reporting progress.
func (ss *session) shutdown(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	if ss.p.inTxn {
		ss.p.inTxn = false
		if err := ss.h.Rollback(ctx); err != nil {
			ss.s.o.Logger.Warn().Err(err).Msg("rollback of the open transaction at shutdown")
		}
	}
	if ss.s.o.DrainTimeout <= 0 {
		return
	}
	deadline := time.After(ss.s.o.DrainTimeout)
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for ss.s.o.Settled(ss.p.dispatched) < ss.p.dispatched {
		_ = ss.sendStatus(false)
		select {
		case <-poll.C:
		case <-deadline:
			ss.s.o.Logger.Warn().Stringer("dispatched", ss.p.dispatched).Msg("drain timed out; unsettled transactions will be streamed again after restart")
			return
		}
	}
}

// finalStatus reports the settled position once more as the session ends.
func (ss *session) finalStatus(ctx context.Context) {
	_ = ss.conn.Conn().SetWriteDeadline(time.Now().Add(2 * time.Second))
	if err := ss.sendStatus(false); err != nil {
		ss.s.o.Logger.Debug().Err(err).Msg("final status update not sent; the slot resumes from the previous one")
	}
}

// writeStatus sends a Standby Status Update with the write, flush and apply
// positions all set to pos (pglogrepl.SendStandbyStatusUpdate would replace
// a zero flush position with the write position).
func writeStatus(conn *pgconn.PgConn, pos LSN, reply bool) error {
	var buf [5 + 34]byte
	buf[0] = 'd'
	binary.BigEndian.PutUint32(buf[1:], 4+34)
	b := buf[5:]
	b[0] = pglogrepl.StandbyStatusUpdateByteID
	binary.BigEndian.PutUint64(b[1:], uint64(pos))
	binary.BigEndian.PutUint64(b[9:], uint64(pos))
	binary.BigEndian.PutUint64(b[17:], uint64(pos))
	binary.BigEndian.PutUint64(b[25:], uint64(time.Since(pgEpoch).Microseconds()))
	if reply {
		b[33] = 1
	}
	return conn.Frontend().SendUnbufferedEncodedCopyData(buf[:])
}
