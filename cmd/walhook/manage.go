package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/walhook/walhook/admin"
	"github.com/walhook/walhook/config"
	"github.com/walhook/walhook/deliver"
	"github.com/walhook/walhook/store"
)

// stateAPI reads and changes walhook's state schema for the management
// commands and, through the adapters in admin_wiring.go, for the admin
// API. It speaks admin's types so that `--json` output and the API agree.
// It holds no process-local state: every answer comes from the database.
type stateAPI struct {
	db  *store.DB
	cfg *config.Config
	// by names who changes the pause switch ("cli", "admin API").
	by string
}

// sql renders {{schema}} in a query with walhook's quoted schema name.
func (s *stateAPI) sql(q string) string {
	return strings.ReplaceAll(q, "{{schema}}", pgx.Identifier{s.db.Schema()}.Sanitize())
}

// openState loads the configuration named by the global flags and opens
// the state database. When needSchema is set it also checks that walhook's
// schema exists, so that commands fail with "run walhook migrate" rather
// than with a missing relation. The caller closes the returned stateAPI.
func openState(ctx context.Context, cmd *cobra.Command, g *globalFlags, needSchema bool) (*stateAPI, error) {
	cfg, err := loadConfig(g.configPath)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, cfg.State.DSN, cfg.State.Schema, store.Options{
		Logger:   cliLogger(cmd.ErrOrStderr()),
		CacheTTL: cfg.Cache.TTL,
		Tables:   cfg.Tables,
		MaxConns: 4,
	})
	if err != nil {
		return nil, fmt.Errorf("open state database (state.dsn in %s): %w", cfg.File, err)
	}
	s := &stateAPI{db: db, cfg: cfg, by: "cli"}
	if needSchema {
		if _, err := s.schemaVersion(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return s, nil
}

// cliLogger logs warnings and errors of a management command's store to
// w, plainly: the command's own output says what it did.
func cliLogger(w io.Writer) zerolog.Logger {
	return zerolog.New(zerolog.ConsoleWriter{Out: w, NoColor: true, PartsExclude: []string{zerolog.TimestampFieldName}}).
		Level(zerolog.WarnLevel).With().Str("component", "store").Logger()
}

// Close closes the state database.
func (s *stateAPI) Close() { s.db.Close() }

// schemaVersion returns the applied schema version, or an error telling
// the operator to migrate when the schema is missing.
func (s *stateAPI) schemaVersion(ctx context.Context) (int, error) {
	v, err := s.db.SchemaVersion(ctx)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000") {
		return 0, fmt.Errorf("walhook's schema %q does not exist in the state database yet: run walhook migrate (walhook run also migrates)", s.db.Schema())
	}
	if err != nil {
		return 0, err
	}
	if v == 0 {
		return 0, fmt.Errorf("walhook's schema %q has no migrations applied: run walhook migrate", s.db.Schema())
	}
	return v, nil
}

// resolveSubscriber finds a subscriber by exact name, else by numeric id.
// An unknown one is a usage error that lists some known names.
func (s *stateAPI) resolveSubscriber(ctx context.Context, arg string) (int64, string, error) {
	arg = strings.TrimSpace(arg)
	var id int64
	var name string
	err := s.db.Pool().QueryRow(ctx, s.sql(`SELECT id, name FROM {{schema}}.subscribers
WHERE name = $1 OR ($2::bigint IS NOT NULL AND id = $2::bigint)
ORDER BY name = $1 DESC LIMIT 1`), arg, parseIDOrNil(arg)).Scan(&id, &name)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", s.unknownSubscriber(ctx, arg)
	}
	if err != nil {
		return 0, "", fmt.Errorf("look up subscriber %q: %w", arg, err)
	}
	return id, name, nil
}

func (s *stateAPI) unknownSubscriber(ctx context.Context, arg string) error {
	rows, err := s.db.Pool().Query(ctx, s.sql(`SELECT name FROM {{schema}}.subscribers ORDER BY name LIMIT 11`))
	if err != nil {
		return usagef("no subscriber is named %q or has that id", arg)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(names) == 0 {
		return usagef("no subscriber is named %q or has that id (there are no subscribers: declare them under subscribers: in %s)", arg, s.cfg.File)
	}
	more := ""
	if len(names) > 10 {
		names, more = names[:10], ", …"
	}
	return usagef("no subscriber is named %q or has that id; known subscribers: %s%s (see walhook subscribers list)",
		arg, quoteAll(names), more)
}

func parseIDOrNil(s string) *int64 {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil
	}
	return &id
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// newDeliverClient builds the HTTP client the pipeline would use, with
// the configured network policy.
func newDeliverClient(cfg *config.Config) (*deliver.Client, error) {
	c, err := deliver.NewClient(deliver.ClientOptions{
		AllowNetworks:    cfg.Delivery.AllowNetworks,
		MaxResponseBytes: cfg.Delivery.MaxResponseBytes,
		MaxConnsPerHost:  cfg.Delivery.PerEndpointConcurrency,
		Version:          version,
	})
	if err != nil {
		return nil, usageError{fmt.Errorf("delivery settings in %s: %w", cfg.File, err)}
	}
	return c, nil
}

// output writes a command's result: JSON with --json, else text.
type output struct {
	w    io.Writer
	json bool
}

func newOutput(cmd *cobra.Command, asJSON bool) output {
	return output{w: cmd.OutOrStdout(), json: asJSON}
}

// emit writes v as indented JSON, or calls text.
func (o output) emit(v any, text func(w io.Writer)) error {
	if o.json {
		enc := json.NewEncoder(o.w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(o.w)
	return nil
}

// addJSONFlag adds --json to c.
func addJSONFlag(c *cobra.Command, v *bool) {
	c.Flags().BoolVar(v, "json", false, "print JSON for machines instead of text")
}

// newTable starts an aligned text table on w; call Flush when done.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// percent formats a 0–100 rate, "-" when nothing was counted.
func percent(rate float64, total int64) string {
	if total == 0 {
		return "-"
	}
	return strconv.FormatFloat(rate, 'f', 1, 64) + "%"
}

// ago formats t relative to now, "never" for the zero time.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t).Round(time.Second)
	switch {
	case d < time.Minute:
		return d.String() + " ago"
	case d < time.Hour:
		return d.Round(time.Minute).String() + " ago"
	case d < 48*time.Hour:
		return d.Round(time.Hour).String() + " ago"
	default:
		return t.UTC().Format("2006-01-02 15:04") + " UTC"
	}
}

// bytesIEC formats a byte count, e.g. 1.5 MiB.
func bytesIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// clipText shortens s to n runes for one-line display.
func clipText(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// whoami names the operator for the control row's updated_by.
func whoami(prefix string) string {
	u := os.Getenv("USER")
	host, _ := os.Hostname()
	switch {
	case u != "" && host != "":
		return prefix + " " + u + "@" + host
	case u != "":
		return prefix + " " + u
	default:
		return prefix
	}
}

// markNotFound maps store.ErrNotFound to admin's not-found kind.
func markNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return admin.MarkNotFound(err)
	}
	return err
}

// querier is what the state pool and a plain connection share.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// withSource runs fn against the source database: through the state pool
// when state.dsn is source.dsn, else on a connection of its own that it
// closes afterwards.
func (s *stateAPI) withSource(ctx context.Context, fn func(q querier) error) error {
	if s.cfg.State.DSN == s.cfg.Source.DSN {
		return fn(s.db.Pool())
	}
	conn, err := pgx.Connect(ctx, s.cfg.Source.DSN)
	if err != nil {
		return fmt.Errorf("connect to source.dsn: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return fn(conn)
}
