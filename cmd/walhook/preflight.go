package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/config"
	"github.com/walhook/walhook/router"
)

// preflight checks the source database against cfg: wal_level, the role's
// REPLICATION attribute, every table and column the configuration names,
// and REPLICA IDENTITY FULL where conditional events need old values. It
// reports whether the database was reachable; problems are returned as one
// usage error listing them all.
func preflight(ctx context.Context, cfg *config.Config) (reachable bool, err error) {
	conn, err := pgx.Connect(ctx, cfg.Source.DSN)
	if err != nil {
		return false, fmt.Errorf("connect to source.dsn: %w", err)
	}
	conn.Close(context.WithoutCancel(ctx))
	report, err := cdc.Check(ctx, cfg.Source.DSN, cfg.ColumnsByTable())
	var checkErr *cdc.CheckError
	if err != nil && !errors.As(err, &checkErr) {
		return true, err
	}
	problems := append([]string(nil), report.Problems...)
	for _, ev := range cfg.Events {
		if !router.NeedsOldValues(ev) {
			continue
		}
		if t, ok := report.Tables[ev.Table]; ok && t.ReplicaIdentity != 'f' {
			problems = append(problems, fmt.Sprintf(
				"%s:%d: events: %q needs the old values of %s, which PostgreSQL only sends with REPLICA IDENTITY FULL: run ALTER TABLE %s REPLICA IDENTITY FULL",
				cfg.File, ev.Line, ev.Name, ev.Table, ev.Table))
		}
	}
	if len(problems) > 0 {
		return true, usagef("the database is not ready for this configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	return true, nil
}
