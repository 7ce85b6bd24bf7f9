package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walhook/walhook/internal/pgcluster"
)

// table is the same row shape as walhook bench's table.
const tableSQL = `
CREATE TABLE public.bench (
	id         bigserial PRIMARY KEY,
	name       text NOT NULL,
	email      text NOT NULL,
	amount     numeric(12,2) NOT NULL,
	active     boolean NOT NULL,
	tags       text[] NOT NULL,
	meta       jsonb NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE PUBLICATION bench FOR TABLE public.bench`

// insertSQL inserts rows $1..$2 in one statement (one transaction), as
// walhook bench does.
const insertSQL = `INSERT INTO public.bench (name, email, amount, active, tags, meta)
SELECT 'user ' || g, 'user' || g || '@example.com', (g % 100000) / 100.0, g % 2 = 0,
       ARRAY['bench', 'tag' || (g % 7)], jsonb_build_object('n', g, 'plan', 'pro')
FROM generate_series($1::bigint, $2::bigint) g`

// startDB starts a throwaway cluster with the bench table and publication,
// with the settings walhook bench uses.
func startDB(ctx context.Context) (*pgcluster.Cluster, *pgx.Conn, error) {
	c, err := pgcluster.Start(ctx, pgcluster.Options{Settings: map[string]string{"synchronous_commit": "on"}})
	if err != nil {
		return nil, nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		c.Stop()
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	if _, err := conn.Exec(ctx, tableSQL); err != nil {
		c.Stop()
		return nil, nil, fmt.Errorf("create bench table: %w", err)
	}
	return c, conn, nil
}

// createSlot creates a pgoutput slot.
func createSlot(ctx context.Context, conn *pgx.Conn, slot string) error {
	_, err := conn.Exec(ctx, `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, slot)
	if err != nil {
		return fmt.Errorf("create slot %s: %w", slot, err)
	}
	return nil
}

// write inserts rows from..to in transactions of txSize rows, paced at
// rate rows/s when rate > 0.
func write(ctx context.Context, conn *pgx.Conn, from, to, txSize int, rate float64) error {
	var pace *time.Ticker
	if rate > 0 {
		pace = time.NewTicker(time.Duration(float64(time.Second) * float64(txSize) / rate))
		defer pace.Stop()
	}
	for lo := from; lo <= to; lo += txSize {
		if pace != nil {
			<-pace.C
		}
		if _, err := conn.Exec(ctx, insertSQL, lo, min(lo+txSize-1, to)); err != nil {
			return fmt.Errorf("insert rows %d..: %w", lo, err)
		}
	}
	return nil
}

// stream reads slot over a replication connection and calls handle with
// each decoded pgoutput message until handle returns false or ctx ends.
// It acknowledges what it received (a bare client: no settlement).
func stream(ctx context.Context, dsn, slot string, handle func(pglogrepl.Message) bool) error {
	conn, err := pgconn.Connect(ctx, dsn+"&replication=database")
	if err != nil {
		return fmt.Errorf("replication connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = pglogrepl.StartReplication(ctx, conn, slot, 0, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names 'bench'"},
	})
	if err != nil {
		return fmt.Errorf("start replication: %w", err)
	}
	var received pglogrepl.LSN
	for {
		msg, err := conn.ReceiveMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("receive: %w", err)
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok {
			if e, isErr := msg.(*pgproto3.ErrorResponse); isErr {
				return errors.New(e.Message)
			}
			continue
		}
		switch cd.Data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(cd.Data[1:])
			if err == nil && ka.ReplyRequested {
				_ = pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: received})
			}
		case pglogrepl.XLogDataByteID:
			xld, err := pglogrepl.ParseXLogData(cd.Data[1:])
			if err != nil {
				return fmt.Errorf("parse XLogData: %w", err)
			}
			received = xld.WALStart + pglogrepl.LSN(len(xld.WALData))
			m, err := pglogrepl.Parse(xld.WALData)
			if err != nil {
				return fmt.Errorf("parse pgoutput: %w", err)
			}
			if !handle(m) {
				return nil
			}
		}
	}
}
