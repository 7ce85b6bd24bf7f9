package cdc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// sqlConn is the Stream's ordinary (non-replication) connection, opened on
// first use and reopened after a failure. It reads pg_type and writes
// heartbeats. It is used by one goroutine.
type sqlConn struct {
	dsn  string
	conn *pgx.Conn
}

func (c *sqlConn) get(ctx context.Context) (*pgx.Conn, error) {
	if c.conn != nil && !c.conn.IsClosed() {
		return c.conn, nil
	}
	conn, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to source database: %w", err)
	}
	c.conn = conn
	return conn, nil
}

// do runs f on the connection with a timeout, dropping the connection when
// f fails so that the next call reconnects.
func (c *sqlConn) do(ctx context.Context, f func(ctx context.Context, conn *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := c.get(ctx)
	if err != nil {
		return err
	}
	if err := f(ctx, conn); err != nil {
		c.close()
		return err
	}
	return nil
}

func (c *sqlConn) close() {
	if c.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.conn.Close(ctx)
	c.conn = nil
}

// heartbeatSQL writes a non-transactional logical message: WAL in this
// database, so the walsender has something to send and the slot advances.
const heartbeatSQL = `SELECT pg_logical_emit_message(false, 'walhook.heartbeat', '')`

func (c *sqlConn) heartbeat(ctx context.Context) error {
	return c.do(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		if _, err := conn.Exec(ctx, heartbeatSQL); err != nil {
			return fmt.Errorf("write heartbeat: %w", err)
		}
		return nil
	})
}

// lookupType reads a type's pg_type row.
func (c *sqlConn) lookupType(ctx context.Context, oid uint32) (pgType, error) {
	var t pgType
	err := c.do(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		var err error
		t, err = readPGType(ctx, conn, oid)
		return err
	})
	return t, err
}

// readPGType reads a type's pg_type row through q; a type dropped since
// reads as the zero pgType (decoded as text).
func readPGType(ctx context.Context, q Querier, oid uint32) (pgType, error) {
	var t pgType
	var typ, delim, cat string
	err := q.QueryRow(ctx, `SELECT typtype::text, typbasetype, typelem, typdelim::text, typcategory::text FROM pg_type WHERE oid = $1`, oid).
		Scan(&typ, &t.Base, &t.Elem, &delim, &cat)
	if errors.Is(err, pgx.ErrNoRows) {
		return pgType{}, nil
	}
	if err != nil {
		return pgType{}, err
	}
	t.Type, t.Delim, t.Category = first(typ), first(delim), first(cat)
	return t, nil
}

func first(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}
