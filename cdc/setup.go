package cdc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// SetupOptions say which slot and publication Prepare makes ready.
type SetupOptions struct {
	// Slot is the logical replication slot: lower-case letters, digits and
	// underscores.
	Slot string
	// Publication is the publication the slot streams.
	Publication string
	// Tables are the tables to publish, schema-qualified ("public.users").
	// Names are taken literally (case-sensitive, no quotes): "public.Users"
	// is the table created as "Users".
	Tables []string
}

// Prepare makes the source database ready to stream and returns where to
// start: the slot's confirmed flush LSN.
//
// It creates the publication FOR TABLE exactly opts.Tables, or changes an
// existing one (ALTER PUBLICATION ... SET TABLE) whose tables or published
// operations differ. It then creates the slot (pgoutput) when it does not
// exist, or checks the existing one: a slot of another plugin or database
// is an error, and so is an invalidated slot (*SlotLostError): Prepare never
// drops or recreates a slot. Prepare is idempotent.
func Prepare(ctx context.Context, dsn string, opts SetupOptions) (LSN, error) {
	start, _, err := PrepareSlot(ctx, dsn, opts)
	return start, err
}

// PrepareSlot is Prepare that also reports whether it created the slot
// (this process made it, just now), for callers that keep state per slot
// which a new slot of the same name must not inherit.
func PrepareSlot(ctx context.Context, dsn string, opts SetupOptions) (start LSN, created bool, err error) {
	if err := validSlotName(opts.Slot); err != nil {
		return 0, false, err
	}
	if opts.Publication == "" {
		return 0, false, errors.New("prepare replication: publication name is empty: set source.publication")
	}
	tables, err := parseTables(opts.Tables)
	if err != nil {
		return 0, false, err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, false, fmt.Errorf("connect to source database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// The publication must exist before the slot: pgoutput reads it as of
	// each change's position in the WAL.
	if err := ensurePublication(ctx, conn, opts.Publication, tables); err != nil {
		return 0, false, err
	}
	return ensureSlot(ctx, conn, dsn, opts.Slot)
}

var slotNameRE = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

func validSlotName(name string) error {
	if !slotNameRE.MatchString(name) {
		return fmt.Errorf("replication slot name %q is invalid: use 1 to 63 lower-case letters, digits and underscores, e.g. walhook", name)
	}
	return nil
}

// tableName is a schema-qualified table name.
type tableName struct{ Schema, Name string }

func (t tableName) String() string   { return t.Schema + "." + t.Name }
func (t tableName) sanitize() string { return pgx.Identifier{t.Schema, t.Name}.Sanitize() }

func parseTable(s string) (tableName, error) {
	schema, name, ok := strings.Cut(s, ".")
	if !ok || schema == "" || name == "" || strings.Contains(name, ".") {
		return tableName{}, fmt.Errorf("table %q: write it schema-qualified as schema.table, e.g. public.%s", s, s)
	}
	return tableName{schema, name}, nil
}

func parseTables(names []string) ([]tableName, error) {
	out := make([]tableName, 0, len(names))
	for _, s := range names {
		t, err := parseTable(s)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, compareTables)
	return out, nil
}

func compareTables(a, b tableName) int { return strings.Compare(a.String(), b.String()) }

func tableList(tables []tableName) string {
	s := make([]string, len(tables))
	for i, t := range tables {
		s[i] = t.sanitize()
	}
	return strings.Join(s, ", ")
}

// publishedOps is what walhook needs a publication to publish.
const publishedOps = "insert, update, delete, truncate"

func ensurePublication(ctx context.Context, conn *pgx.Conn, pub string, tables []tableName) error {
	var allTables, ins, upd, del, trunc bool
	err := conn.QueryRow(ctx, `SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = $1`, pub).
		Scan(&allTables, &ins, &upd, &del, &trunc)
	if errors.Is(err, pgx.ErrNoRows) {
		return createPublication(ctx, conn, pub, tables)
	}
	if err != nil {
		return fmt.Errorf("read publication %q: %w", pub, err)
	}
	if allTables {
		return fmt.Errorf("publication %q is FOR ALL TABLES, walhook needs one FOR TABLE its configured tables: drop it (DROP PUBLICATION %s) or set source.publication to another name", pub, pgx.Identifier{pub}.Sanitize())
	}
	if !(ins && upd && del && trunc) {
		if err := execf(ctx, conn, "ALTER PUBLICATION %s SET (publish = '%s')", pgx.Identifier{pub}.Sanitize(), publishedOps); err != nil {
			return fmt.Errorf("set operations of publication %q: %w", pub, err)
		}
	}
	return alignPublication(ctx, conn, pub, tables)
}

func createPublication(ctx context.Context, conn *pgx.Conn, pub string, tables []tableName) error {
	sql := "CREATE PUBLICATION " + pgx.Identifier{pub}.Sanitize()
	if len(tables) > 0 {
		sql += " FOR TABLE " + tableList(tables)
	}
	sql += " WITH (publish = '" + publishedOps + "')"
	if err := execf(ctx, conn, "%s", sql); err != nil {
		return fmt.Errorf("create publication %q: %w", pub, tableHint(err))
	}
	return nil
}

// alignPublication makes the publication's table set exactly tables.
func alignPublication(ctx context.Context, conn *pgx.Conn, pub string, tables []tableName) error {
	rows, err := conn.Query(ctx, `SELECT schemaname::text, tablename::text FROM pg_publication_tables WHERE pubname = $1`, pub)
	if err != nil {
		return fmt.Errorf("read tables of publication %q: %w", pub, err)
	}
	current, err := pgx.CollectRows(rows, pgx.RowToStructByPos[tableName])
	if err != nil {
		return fmt.Errorf("read tables of publication %q: %w", pub, err)
	}
	slices.SortFunc(current, compareTables)
	if slices.Equal(current, tables) {
		return nil
	}
	ident := pgx.Identifier{pub}.Sanitize()
	if len(tables) > 0 {
		err = execf(ctx, conn, "ALTER PUBLICATION %s SET TABLE %s", ident, tableList(tables))
	} else {
		err = execf(ctx, conn, "ALTER PUBLICATION %s DROP TABLE %s", ident, tableList(current))
	}
	if err != nil {
		return fmt.Errorf("set tables of publication %q: %w", pub, tableHint(err))
	}
	return nil
}

func execf(ctx context.Context, conn *pgx.Conn, format string, args ...any) error {
	_, err := conn.Exec(ctx, fmt.Sprintf(format, args...))
	return err
}

// tableHint adds advice to a missing-table error.
func tableHint(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
		return fmt.Errorf("%w (check the table names under tables: and subscribers:, schema-qualified; `walhook validate` lists near misses)", err)
	}
	return err
}

// slotInfo is a row of pg_replication_slots, read as JSON so that columns
// added by newer servers (invalidation_reason, conflicting) are seen when
// present.
type slotInfo struct {
	Plugin             string  `json:"plugin"`
	SlotType           string  `json:"slot_type"`
	Database           string  `json:"database"`
	ConfirmedFlushLSN  *string `json:"confirmed_flush_lsn"`
	WALStatus          *string `json:"wal_status"`
	InvalidationReason *string `json:"invalidation_reason"`
	Conflicting        *bool   `json:"conflicting"`
}

func readSlot(ctx context.Context, conn *pgx.Conn, slot string) (*slotInfo, string, error) {
	var raw []byte
	var db string
	err := conn.QueryRow(ctx, `SELECT (SELECT to_jsonb(s) FROM pg_replication_slots s WHERE slot_name = $1), current_database()`, slot).Scan(&raw, &db)
	if err != nil {
		return nil, "", fmt.Errorf("read replication slot %q: %w", slot, err)
	}
	if raw == nil {
		return nil, db, nil
	}
	var info slotInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return nil, "", fmt.Errorf("read replication slot %q: %w", slot, err)
	}
	return &info, db, nil
}

func ensureSlot(ctx context.Context, conn *pgx.Conn, dsn, slot string) (LSN, bool, error) {
	info, db, err := readSlot(ctx, conn, slot)
	if err != nil {
		return 0, false, err
	}
	if info == nil {
		lsn, err := createSlot(ctx, dsn, slot)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42710" {
			return lsn, err == nil, err
		}
		// Created meanwhile by another process: check that one.
		if info, db, err = readSlot(ctx, conn, slot); err != nil {
			return 0, false, err
		}
	}
	lsn, err := checkSlot(info, slot, db)
	return lsn, false, err
}

// checkSlot validates an existing slot and returns its confirmed flush LSN.
func checkSlot(info *slotInfo, slot, db string) (LSN, error) {
	if info.SlotType != "logical" || info.Plugin != "pgoutput" {
		return 0, fmt.Errorf("replication slot %q is a %s slot with plugin %q, walhook needs a logical pgoutput slot: drop it (SELECT pg_drop_replication_slot('%s')) or set source.slot to another name", slot, info.SlotType, info.Plugin, slot)
	}
	if info.Database != db {
		return 0, fmt.Errorf("replication slot %q belongs to database %q, not %q: set source.slot to another name", slot, info.Database, db)
	}
	lost := info.WALStatus != nil && *info.WALStatus == "lost"
	if lost || info.InvalidationReason != nil || (info.Conflicting != nil && *info.Conflicting) {
		reason := "wal_removed"
		if info.InvalidationReason != nil {
			reason = *info.InvalidationReason
		}
		return 0, &SlotLostError{Slot: slot, Reason: reason}
	}
	if info.ConfirmedFlushLSN == nil {
		return 0, fmt.Errorf("replication slot %q has no confirmed flush position: drop it (SELECT pg_drop_replication_slot('%s')) and restart", slot, slot)
	}
	lsn, err := pglogrepl.ParseLSN(*info.ConfirmedFlushLSN)
	if err != nil {
		return 0, fmt.Errorf("read confirmed flush LSN of slot %q: %w", slot, err)
	}
	return lsn, nil
}

func createSlot(ctx context.Context, dsn, slot string) (LSN, error) {
	conn, err := connectReplication(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer closeConn(ctx, conn)
	res, err := pglogrepl.CreateReplicationSlot(ctx, conn, slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "NOEXPORT_SNAPSHOT"})
	if err != nil {
		return 0, fmt.Errorf("create replication slot %q: %w", slot, err)
	}
	lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return 0, fmt.Errorf("read consistent point of new slot %q: %w", slot, err)
	}
	return lsn, nil
}

// SlotLostError says that the replication slot was invalidated: the server
// removed WAL the slot still needed, so the changes in that gap are gone.
type SlotLostError struct {
	Slot   string
	Reason string // invalidation_reason when the server reports one, else "wal_removed"
}

func (e *SlotLostError) Error() string {
	return fmt.Sprintf("replication slot %q was invalidated (%s): the server removed WAL the slot still needed, "+
		"because it fell further behind than max_slot_wal_keep_size allows. "+
		"Changes committed in that gap cannot be recovered and their webhooks will never be sent. "+
		"After accepting the gap, drop the slot with SELECT pg_drop_replication_slot('%s'); and restart walhook, "+
		"which creates a new slot starting at the current position (consider raising max_slot_wal_keep_size)",
		e.Slot, e.Reason, e.Slot)
}

func lostSlotError(slot string) error { return &SlotLostError{Slot: slot, Reason: "wal_removed"} }
