package cdc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// StreamOptions configure a Stream.
type StreamOptions struct {
	// DSN of the source database. walhook adds replication=database and
	// fixes the session's DateStyle, IntervalStyle, TimeZone (UTC) and
	// bytea_output so that values decode the same everywhere.
	DSN string
	// Slot is the logical replication slot to read (see Prepare).
	Slot string
	// Publication names the publication to stream.
	Publication string
	// Start is where to start reading: the slot's confirmed flush LSN, as
	// returned by Prepare. It is also the lowest position ever reported.
	Start LSN
	// Logger receives the stream's logs.
	Logger zerolog.Logger
	// Settled is called before every standby status update with the
	// position up to which everything received has been handed to the
	// Handler (the end LSN of the last Commit handed over, or a
	// keepalive's WAL end when no transaction is open) and returns the flush
	// LSN to report: usually (*Tracker).Settled. Nil reports the dispatched
	// position itself, which is only right when the Handler has finished
	// with a transaction by the time its Commit returns.
	Settled func(dispatched LSN) LSN
	// StatusInterval is the longest time between standby status updates
	// (default 10s).
	StatusInterval time.Duration
	// HeartbeatInterval is how often a non-transactional logical message
	// is written to the source database so that its slot advances even when
	// only other databases write WAL (default 30s; negative disables).
	HeartbeatInterval time.Duration
	// DrainTimeout is how long Run, once ctx ends, keeps the connection to
	// report what becomes settled meanwhile, until everything handed over
	// is settled (default 0: report once and return). Setting it lets the
	// consumer finish in-flight work and spares receivers redeliveries
	// after a clean restart.
	DrainTimeout time.Duration
	// Registerer receives the stream's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Stream reads a logical replication slot and hands committed transactions
// to a Handler. It reports the flush position back to the server, reconnects
// after a lost connection, and keeps memory bounded however large a
// transaction is.
type Stream struct {
	o StreamOptions
	m *metrics
}

// NewStream returns a Stream; it starts nothing until Run.
func NewStream(o StreamOptions) *Stream {
	if o.StatusInterval <= 0 {
		o.StatusInterval = 10 * time.Second
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = 30 * time.Second
	}
	if o.Settled == nil {
		o.Settled = func(d LSN) LSN { return d }
	}
	return &Stream{o: o, m: newMetrics(o.Registerer)}
}

// progress is what a Stream remembers across connections.
type progress struct {
	resume     LSN  // end LSN of the last Commit handed over: restart here
	dispatched LSN  // everything before this was handed over
	inTxn      bool // a Begin was handed over without its Commit
}

// Run streams from the slot until ctx ends; then it rolls back a transaction
// left open on the Handler, waits up to DrainTimeout for what was handed over
// to settle, sends a last status update and returns nil. A Stream runs once
// at a time. It returns an error when the Handler returns one, or when
// the server refuses the stream for a reason a retry cannot fix (slot or
// publication missing, slot invalidated (*SlotLostError), authentication, a
// message walhook cannot decode). Any other failure
// (a lost connection, the server restarting, the slot still held by a dying
// session) is logged and retried with capped exponential back-off, for as
// long as ctx lives; a transaction open at that moment is rolled back on the
// Handler and streamed again, whole, after reconnecting.
func (s *Stream) Run(ctx context.Context, h Handler) error {
	if err := validSlotName(s.o.Slot); err != nil {
		return err
	}
	if s.o.Publication == "" {
		return errors.New("stream: publication name is empty: set source.publication")
	}
	p := &progress{resume: s.o.Start, dispatched: s.o.Start}
	sql := &sqlConn{dsn: s.o.DSN}
	defer sql.close()
	types := newTypeResolver(sql.lookupType)
	bo := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(250*time.Millisecond),
		backoff.WithMaxInterval(30*time.Second),
		backoff.WithMaxElapsedTime(0),
	)
	for {
		err := s.session(ctx, h, p, types, sql, bo.Reset)
		if ctx.Err() != nil {
			return nil
		}
		var he *handlerError
		if errors.As(err, &he) {
			return he.err
		}
		if err := permanent(err, s.o.Slot, s.o.Publication); err != nil {
			return err
		}
		if err := s.rollback(ctx, h, p); err != nil {
			return err
		}
		delay := bo.NextBackOff()
		s.m.reconnects.Inc()
		s.o.Logger.Warn().Err(err).Stringer("resume_lsn", p.resume).Dur("retry_in", delay).Msg("replication connection lost; reconnecting")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
}

// rollback tells the Handler that the open transaction, if any, is void.
func (s *Stream) rollback(ctx context.Context, h Handler, p *progress) error {
	if !p.inTxn {
		return nil
	}
	p.inTxn = false
	if err := h.Rollback(ctx); err != nil {
		return err
	}
	return nil
}

// handlerError marks an error returned by the Handler: it stops the Stream.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// permanent returns the error to stop the Stream with when a retry cannot
// help, or nil.
func permanent(err error, slot, publication string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "55000" && strings.Contains(pgErr.Message+pgErr.Detail, "invalidated"),
			pgErr.Code == "55000" && strings.Contains(pgErr.Message, "can no longer get changes"):
			return lostSlotError(slot)
		case pgErr.Code == "42704":
			return fmt.Errorf("stream slot %q, publication %q: %w (walhook creates both at start-up; was one dropped while it ran?)", slot, publication, err)
		case strings.HasPrefix(pgErr.Code, "28"), pgErr.Code == "3D000", pgErr.Code == "42501":
			return fmt.Errorf("stream slot %q: %w", slot, err)
		}
	}
	var pe *protocolError
	if errors.As(err, &pe) {
		return fmt.Errorf("stream slot %q: %w", slot, err)
	}
	return nil
}

// protocolError marks a message walhook cannot decode: reconnecting would
// read it again.
type protocolError struct{ err error }

func (e *protocolError) Error() string { return e.err.Error() }
func (e *protocolError) Unwrap() error { return e.err }

// connectReplication opens a replication connection to dsn.
func connectReplication(ctx context.Context, dsn string) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse source DSN: %w", err)
	}
	params := map[string]string{"replication": "database", "application_name": "walhook"}
	for k, v := range SessionSettings {
		params[k] = v
	}
	for k, v := range params {
		if _, set := cfg.RuntimeParams[k]; !set || k != "application_name" {
			cfg.RuntimeParams[k] = v
		}
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open replication connection: %w", err)
	}
	return conn, nil
}

func closeConn(ctx context.Context, conn *pgconn.PgConn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// startOptions are the pgoutput plugin arguments.
func startOptions(publication string) pglogrepl.StartReplicationOptions {
	pub := strings.ReplaceAll(pgx.Identifier{publication}.Sanitize(), "'", "''")
	return pglogrepl.StartReplicationOptions{PluginArgs: []string{
		"proto_version '1'",
		"publication_names '" + pub + "'",
		"messages 'true'",
	}}
}
