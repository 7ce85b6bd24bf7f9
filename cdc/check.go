package cdc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Report is what Check found about the source database.
type Report struct {
	WALLevel    string
	Role        string
	Superuser   bool
	Replication bool // the role has REPLICATION (or is superuser, or on RDS a member of rds_replication)
	// Tables holds one entry per table asked about, keyed as asked.
	Tables map[string]*TableReport
	// Problems lists everything that stops walhook from streaming, each
	// saying what to do.
	Problems []string
}

// TableReport describes one table.
type TableReport struct {
	Name   string
	Exists bool
	// ReplicaIdentity is 'd' (default: primary key), 'n' (nothing), 'f'
	// (full) or 'i' (index).
	ReplicaIdentity byte
	PrimaryKey      []string
	Columns         []string // in table order
}

// OldValuesKnown reports whether updates carry the whole old row (REPLICA
// IDENTITY FULL); otherwise only the key columns' old values are sent, and
// only when the key changed.
func (t *TableReport) OldValuesKnown() bool { return t.ReplicaIdentity == 'f' }

// CheckError lists the problems Check found.
type CheckError struct{ Problems []string }

func (e *CheckError) Error() string {
	return fmt.Sprintf("source database not ready (%d problem(s)):\n  - %s", len(e.Problems), strings.Join(e.Problems, "\n  - "))
}

// Check inspects the source database before streaming: wal_level, the
// role's replication privilege, and each table of columns (schema-qualified
// name → columns walhook will read; nil to check only the table) with its
// replica identity and primary key. It returns the Report and, when it found
// problems, a *CheckError listing all of them; other errors mean the check
// could not run.
func Check(ctx context.Context, dsn string, columns map[string][]string) (*Report, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to source database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	r := &Report{Tables: make(map[string]*TableReport)}
	if err := r.checkServer(ctx, conn); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(columns))
	for name := range columns {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := r.checkTable(ctx, conn, name, columns[name]); err != nil {
			return nil, err
		}
	}
	if len(r.Problems) > 0 {
		return r, &CheckError{Problems: r.Problems}
	}
	return r, nil
}

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func (r *Report) checkServer(ctx context.Context, conn *pgx.Conn) error {
	// On Amazon RDS and Aurora, replication is granted through membership
	// of rds_replication rather than the REPLICATION attribute.
	err := conn.QueryRow(ctx, `SELECT current_setting('wal_level'), current_user::text, rolsuper,
		rolreplication OR EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = 'rds_replication' AND pg_has_role(current_user, g.oid, 'member'))
		FROM pg_roles WHERE rolname = current_user`).
		Scan(&r.WALLevel, &r.Role, &r.Superuser, &r.Replication)
	if err != nil {
		return fmt.Errorf("read server settings: %w", err)
	}
	r.Replication = r.Replication || r.Superuser
	if r.WALLevel != "logical" {
		r.problem("wal_level is %q, logical replication needs logical: run ALTER SYSTEM SET wal_level = logical; and restart PostgreSQL (on managed services set the parameter, e.g. rds.logical_replication = 1)", r.WALLevel)
	}
	if !r.Replication {
		r.problem("role %q may not replicate: run ALTER ROLE %s REPLICATION; as a superuser (on Amazon RDS: GRANT rds_replication TO %s;), or connect as a role that may", r.Role, pgx.Identifier{r.Role}.Sanitize(), pgx.Identifier{r.Role}.Sanitize())
	}
	return nil
}

func (r *Report) checkTable(ctx context.Context, conn *pgx.Conn, name string, cols []string) error {
	tr := &TableReport{Name: name}
	r.Tables[name] = tr
	tn, err := parseTable(name)
	if err != nil {
		r.problem("%v", err)
		return nil
	}
	var oid uint32
	var ident string
	err = conn.QueryRow(ctx, `SELECT c.oid, c.relreplident::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`, tn.Schema, tn.Name).Scan(&oid, &ident)
	if errors.Is(err, pgx.ErrNoRows) {
		return r.missingTable(ctx, conn, name)
	}
	if err != nil {
		return fmt.Errorf("read table %s: %w", name, err)
	}
	tr.Exists, tr.ReplicaIdentity = true, first(ident)
	if err := tr.readColumns(ctx, conn, oid); err != nil {
		return err
	}
	for _, c := range cols {
		if !slices.Contains(tr.Columns, c) {
			r.problem("table %s has no column %q%s", name, c, didYouMean(c, tr.Columns))
		}
	}
	r.checkIdentity(tr)
	return nil
}

func (r *Report) checkIdentity(tr *TableReport) {
	ident := pgx.Identifier(strings.SplitN(tr.Name, ".", 2)).Sanitize()
	switch {
	case tr.ReplicaIdentity == 'n':
		r.problem("table %s has REPLICA IDENTITY NOTHING: once published, UPDATE and DELETE on it fail; run ALTER TABLE %s REPLICA IDENTITY DEFAULT (with a primary key) or FULL", tr.Name, ident)
	case tr.ReplicaIdentity == 'd' && len(tr.PrimaryKey) == 0:
		r.problem("table %s has no primary key: once published, UPDATE and DELETE on it fail; add a primary key or run ALTER TABLE %s REPLICA IDENTITY FULL", tr.Name, ident)
	}
}

func (tr *TableReport) readColumns(ctx context.Context, conn *pgx.Conn, oid uint32) error {
	rows, err := conn.Query(ctx, `SELECT attname::text FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, oid)
	if err != nil {
		return fmt.Errorf("read columns of %s: %w", tr.Name, err)
	}
	if tr.Columns, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return fmt.Errorf("read columns of %s: %w", tr.Name, err)
	}
	rows, err = conn.Query(ctx, `SELECT a.attname::text FROM pg_index i
		CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.ord`, oid)
	if err != nil {
		return fmt.Errorf("read primary key of %s: %w", tr.Name, err)
	}
	if tr.PrimaryKey, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return fmt.Errorf("read primary key of %s: %w", tr.Name, err)
	}
	return nil
}

func (r *Report) missingTable(ctx context.Context, conn *pgx.Conn, name string) error {
	rows, err := conn.Query(ctx, `SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`)
	if err != nil {
		return fmt.Errorf("list tables: %w", err)
	}
	all, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list tables: %w", err)
	}
	r.problem("table %s does not exist%s", name, didYouMean(name, all))
	return nil
}

// didYouMean returns " (did you mean "x"?)" for the closest candidate when
// it is close enough, else "".
func didYouMean(name string, candidates []string) string {
	best, bestDist := "", len(name)/3+2
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
