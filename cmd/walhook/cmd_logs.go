package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/walhook/walhook/admin"
)

func init() { commands = append(commands, newLogsCmd) }

func newLogsCmd(g *globalFlags) *cobra.Command {
	c := &cobra.Command{
		Use:   "logs",
		Short: "Read and clean the delivery log (webhook_logs)",
	}
	c.AddCommand(logsListCmd(g), logsShowCmd(g), logsStatsCmd(g), logsErrorsCmd(g), logsCleanupCmd(g))
	return c
}

func logsListCmd(g *globalFlags) *cobra.Command {
	var (
		f              admin.LogFilter
		sub            string
		failed, okOnly bool
		asJSON         bool
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List delivery attempts, newest first",
		Example: `  walhook logs list --failed --limit 20
  walhook logs list --subscriber "My External API" --event created`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.Limit < 1 || f.Limit > 1000 {
				return usagef("--limit %d is out of range: give 1 to 1000", f.Limit)
			}
			if failed && okOnly {
				return usagef("--failed and --success exclude each other: give one")
			}
			return withState(cmd, g, func(ctx context.Context, s *stateAPI) error {
				if sub != "" {
					id, _, err := s.resolveSubscriber(ctx, sub)
					if err != nil {
						return err
					}
					f.SubscriberID = id
				}
				f.Status = statusFilter(failed, okOnly)
				entries, err := s.ListLogs(ctx, f)
				if err != nil {
					return err
				}
				return newOutput(cmd, asJSON).emit(entries, func(w io.Writer) { printLogEntries(w, entries) })
			})
		},
	}
	fl := c.Flags()
	fl.StringVar(&sub, "subscriber", "", "only this subscriber (name or id)")
	fl.StringVar(&f.Event, "event", "", "only this event, e.g. created")
	fl.BoolVar(&failed, "failed", false, "only failed attempts")
	fl.BoolVar(&okOnly, "success", false, "only successful attempts")
	fl.IntVar(&f.Limit, "limit", 50, "most entries to show (1–1000)")
	addJSONFlag(c, &asJSON)
	return c
}

func logsShowCmd(g *globalFlags) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "show ID",
		Short: "Show one delivery attempt with its request payload and response",
		Args:  exactArgs(1, "a delivery-log id from walhook logs list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usagef("%q is not a delivery-log id: give the number from the ID column of walhook logs list", args[0])
			}
			return withState(cmd, g, func(ctx context.Context, s *stateAPI) error {
				e, err := s.GetLog(ctx, id)
				if errors.Is(err, admin.ErrNotFound) {
					return usageError{err}
				}
				if err != nil {
					return err
				}
				return newOutput(cmd, asJSON).emit(e, func(w io.Writer) { printLogEntry(w, e) })
			})
		},
	}
	addJSONFlag(c, &asJSON)
	return c
}

func printLogEntry(w io.Writer, e admin.LogEntry) {
	tw := newTable(w)
	fmt.Fprintf(tw, "ID:\t%d\n", e.ID)
	fmt.Fprintf(tw, "Time:\t%s\n", e.CreatedAt.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(tw, "Subscriber:\t%s (id %d), subscription %d\n", e.Subscriber, e.SubscriberID, e.SubscriptionID)
	fmt.Fprintf(tw, "Event:\t%s on %s, id %s, attempt %d\n", e.Event, e.Table, e.EventID, e.AttemptNumber)
	fmt.Fprintf(tw, "Outcome:\t%s\n", attemptWords(e))
	fmt.Fprintf(tw, "Duration:\t%d ms\n", e.DurationMS)
	tw.Flush()
	if e.ResponseBody != "" {
		fmt.Fprintf(w, "Response body:\n%s\n", e.ResponseBody)
	}
	if len(e.Payload) > 0 {
		fmt.Fprintf(w, "Request payload:\n%s\n", e.Payload)
	}
}

func attemptWords(e admin.LogEntry) string {
	switch {
	case e.IsSuccess:
		return fmt.Sprintf("delivered (HTTP %d)", e.ResponseStatus)
	case e.ResponseStatus != 0:
		return fmt.Sprintf("failed (HTTP %d) %s", e.ResponseStatus, e.ErrorMessage)
	default:
		return "failed: " + e.ErrorMessage
	}
}

func logsStatsCmd(g *globalFlags) *cobra.Command {
	var days int
	var asJSON bool
	c := &cobra.Command{
		Use:     "stats",
		Short:   "Summarise deliveries of the last days, overall and per subscriber",
		Example: `  walhook logs stats --days 7`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days < 1 {
				return usagef("--days %d: give a number of days of 1 or more", days)
			}
			return withState(cmd, g, func(ctx context.Context, s *stateAPI) error {
				st, err := s.LogStats(ctx, days)
				if err != nil {
					return err
				}
				return newOutput(cmd, asJSON).emit(st, func(w io.Writer) { printLogStats(w, st) })
			})
		},
	}
	c.Flags().IntVar(&days, "days", 7, "how many days back to count")
	addJSONFlag(c, &asJSON)
	return c
}

func logsErrorsCmd(g *globalFlags) *cobra.Command {
	var limit int
	var asJSON bool
	c := &cobra.Command{
		Use:     "errors",
		Short:   "Show the newest failed attempts",
		Example: `  walhook logs errors --limit 20`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 1000 {
				return usagef("--limit %d is out of range: give 1 to 1000", limit)
			}
			return withState(cmd, g, func(ctx context.Context, s *stateAPI) error {
				entries, err := s.RecentErrors(ctx, limit)
				if err != nil {
					return err
				}
				return newOutput(cmd, asJSON).emit(entries, func(w io.Writer) {
					if len(entries) == 0 {
						fmt.Fprintln(w, "no failed deliveries")
						return
					}
					printLogEntries(w, entries)
				})
			})
		},
	}
	c.Flags().IntVar(&limit, "limit", 20, "most entries to show (1–1000)")
	addJSONFlag(c, &asJSON)
	return c
}

func logsCleanupCmd(g *globalFlags) *cobra.Command {
	var days int
	var dryRun, asJSON bool
	c := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete delivery-log entries older than --days (default logs.retention_days)",
		Long: `cleanup deletes delivery-log entries older than --days days, in batches so
that it never holds long locks. Counters (total, successful, failed) are kept:
they live apart from the log. Run it from cron when logs.auto_cleanup is off.`,
		Example: `  walhook logs cleanup --days 30
  walhook logs cleanup --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withState(cmd, g, func(ctx context.Context, s *stateAPI) error {
				if !cmd.Flags().Changed("days") {
					days = s.cfg.Logs.RetentionDays
				}
				if days < 1 {
					return usagef("--days %d: give a number of days of 1 or more (entries older than that are deleted)", days)
				}
				res, err := s.cleanupLogs(ctx, days, dryRun)
				if err != nil {
					return err
				}
				return newOutput(cmd, asJSON).emit(res, func(w io.Writer) {
					verb := "deleted"
					if dryRun {
						verb = "would delete"
					}
					fmt.Fprintf(w, "%s %d delivery-log entries older than %d days (before %s)\n",
						verb, res.Deleted, days, res.Before.UTC().Format(time.RFC3339))
				})
			})
		},
	}
	c.Flags().IntVar(&days, "days", 0, "delete entries older than this many days (default logs.retention_days)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "count what would be deleted, delete nothing")
	addJSONFlag(c, &asJSON)
	return c
}

// statusFilter is LogFilter.Status for the --failed and --success flags.
func statusFilter(failed, okOnly bool) string {
	switch {
	case failed:
		return "failed"
	case okOnly:
		return "success"
	default:
		return ""
	}
}

func printLogEntries(w io.Writer, entries []admin.LogEntry) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "no entries")
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tTIME (UTC)\tSUBSCRIBER\tEVENT\tTABLE\tTRY\tSTATUS\tMS\tEVENT ID\tERROR")
	for _, e := range entries {
		status := "-"
		if e.ResponseStatus != 0 {
			status = fmt.Sprint(e.ResponseStatus)
		}
		msg := e.ErrorMessage
		if msg == "" && !e.IsSuccess {
			msg = clipText(e.ResponseBody, 60)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\n", e.ID, e.CreatedAt.UTC().Format("2006-01-02 15:04:05"),
			e.Subscriber, e.Event, e.Table, e.AttemptNumber, status, e.DurationMS, e.EventID, clipText(msg, 80))
	}
	tw.Flush()
}

func printLogStats(w io.Writer, st admin.LogStats) {
	fmt.Fprintf(w, "last %d days: %d deliveries, %d successful, %d failed, success rate %s, average %.0f ms\n",
		st.Days, st.Total, st.Successful, st.Failed, percent(st.SuccessRate, st.Total), st.AvgDurationMS)
	if len(st.BySubscriber) == 0 {
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "\nSUBSCRIBER\tTOTAL\tSUCCESSFUL\tFAILED\tSUCCESS")
	for _, b := range st.BySubscriber {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", b.Subscriber, b.Total, b.Successful, b.Failed, percent(b.SuccessRate, b.Total))
	}
	tw.Flush()
}

// logColumns is the select list scanned by scanLog; $payload is replaced
// by the payload column or NULL.
const logColumns = `SELECT l.id, coalesce(l.subscription_id, 0), coalesce(l.subscriber_id, 0), coalesce(sb.name, ''),
       l.event_id, l.event_name, l.table_name, l.attempt_number, coalesce(l.response_status, 0),
       coalesce(l.response_body, ''), l.delivery_duration_ms, coalesce(l.error_message, ''), l.created_at, `

const logFrom = `
FROM {{schema}}.delivery_log l LEFT JOIN {{schema}}.subscribers sb ON sb.id = l.subscriber_id `

func scanLog(row pgx.CollectableRow) (admin.LogEntry, error) {
	var e admin.LogEntry
	var payload *string
	err := row.Scan(&e.ID, &e.SubscriptionID, &e.SubscriberID, &e.Subscriber, &e.EventID, &e.Event, &e.Table,
		&e.AttemptNumber, &e.ResponseStatus, &e.ResponseBody, &e.DurationMS, &e.ErrorMessage, &e.CreatedAt, &payload)
	if err != nil {
		return e, err
	}
	e.IsSuccess = e.ResponseStatus >= 200 && e.ResponseStatus < 300
	e.IsClientError = e.ResponseStatus >= 400 && e.ResponseStatus < 500
	e.IsServerError = e.ResponseStatus >= 500 && e.ResponseStatus < 600
	if payload != nil && *payload != "" {
		if json.Valid([]byte(*payload)) {
			e.Payload = json.RawMessage(*payload)
		} else {
			e.Payload, _ = json.Marshal(*payload)
		}
	}
	return e, nil
}

// ListLogs returns entries matching f, newest first, without payloads.
func (s *stateAPI) ListLogs(ctx context.Context, f admin.LogFilter) ([]admin.LogEntry, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	var since *time.Time
	if !f.Since.IsZero() {
		since = &f.Since
	}
	rows, err := s.db.Pool().Query(ctx, s.sql(logColumns+`NULL::text`+logFrom+`
WHERE ($1 = 0 OR l.subscriber_id = $1) AND ($2 = '' OR sb.name = $2) AND ($3 = '' OR l.event_name = $3)
  AND ($4 = '' OR ($4 = 'success') = coalesce(l.response_status BETWEEN 200 AND 299, false))
  AND ($5::timestamptz IS NULL OR l.created_at >= $5) AND ($6 = 0 OR l.id < $6)
ORDER BY l.id DESC LIMIT $7`), f.SubscriberID, f.SubscriberName, f.Event, f.Status, since, f.BeforeID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list delivery log: %w", err)
	}
	entries, err := pgx.CollectRows(rows, scanLog)
	if err != nil {
		return nil, fmt.Errorf("list delivery log: %w", err)
	}
	return entries, nil
}

// GetLog returns one entry with its payload, or an error wrapping
// admin.ErrNotFound.
func (s *stateAPI) GetLog(ctx context.Context, id int64) (admin.LogEntry, error) {
	rows, err := s.db.Pool().Query(ctx, s.sql(logColumns+`l.request_payload`+logFrom+`WHERE l.id = $1`), id)
	if err != nil {
		return admin.LogEntry{}, fmt.Errorf("read delivery log entry %d: %w", id, err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanLog)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, admin.NotFound("no delivery log entry has id %d", id)
	}
	if err != nil {
		return e, fmt.Errorf("read delivery log entry %d: %w", id, err)
	}
	return e, nil
}

// RecentErrors returns the newest failed entries, newest first.
func (s *stateAPI) RecentErrors(ctx context.Context, limit int) ([]admin.LogEntry, error) {
	return s.ListLogs(ctx, admin.LogFilter{Status: "failed", Limit: limit})
}

// LogStats summarises the delivery log of the last days days.
func (s *stateAPI) LogStats(ctx context.Context, days int) (admin.LogStats, error) {
	st := admin.LogStats{Days: days, BySubscriber: []admin.SubscriberStats{}}
	rows, err := s.db.Pool().Query(ctx, s.sql(`SELECT a.sid, coalesce(sb.name, ''), a.total, a.ok, a.dur
FROM (
    SELECT coalesce(subscriber_id, 0) AS sid, count(*) AS total,
           count(*) FILTER (WHERE response_status BETWEEN 200 AND 299) AS ok,
           coalesce(sum(delivery_duration_ms), 0) AS dur
    FROM {{schema}}.delivery_log WHERE created_at >= now() - make_interval(days => $1)
    GROUP BY 1
) a LEFT JOIN {{schema}}.subscribers sb ON sb.id = a.sid
ORDER BY a.total DESC, 2`), days)
	if err != nil {
		return st, fmt.Errorf("summarise delivery log: %w", err)
	}
	var b admin.SubscriberStats
	var durSum int64
	_, err = pgx.ForEachRow(rows, []any{&b.SubscriberID, &b.Subscriber, &b.Total, &b.Successful, &durSum}, func() error {
		b.Failed = b.Total - b.Successful
		b.SuccessRate = successRate(b.Successful, b.Total)
		st.BySubscriber = append(st.BySubscriber, b)
		st.Total += b.Total
		st.Successful += b.Successful
		st.AvgDurationMS += float64(durSum)
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("summarise delivery log: %w", err)
	}
	st.Failed = st.Total - st.Successful
	st.SuccessRate = successRate(st.Successful, st.Total)
	if st.Total > 0 {
		st.AvgDurationMS /= float64(st.Total)
	}
	return st, nil
}

// successRate is ok/total in percent, rounded to two decimals; 0 when total is 0.
func successRate(ok, total int64) float64 {
	if total == 0 {
		return 0
	}
	return float64(ok*10000/total) / 100
}

// cleanupResult is what logs cleanup did.
type cleanupResult struct {
	Days    int       `json:"days"`
	Before  time.Time `json:"before"`
	Deleted int64     `json:"deleted"`
	DryRun  bool      `json:"dry_run,omitempty"`
}

// cleanupLogs deletes delivery-log entries older than days days (see
// store.DB.CleanupLogs); with dryRun it only counts them.
func (s *stateAPI) cleanupLogs(ctx context.Context, days int, dryRun bool) (cleanupResult, error) {
	keep := time.Duration(days) * 24 * time.Hour
	res := cleanupResult{Days: days, DryRun: dryRun, Before: time.Now().Add(-keep)}
	if !dryRun {
		n, err := s.db.CleanupLogs(ctx, keep, 0)
		res.Deleted = n
		return res, err
	}
	err := s.db.Pool().QueryRow(ctx, s.sql(`SELECT count(*) FROM {{schema}}.delivery_log WHERE created_at < $1`), res.Before).Scan(&res.Deleted)
	if err != nil {
		return res, fmt.Errorf("count old delivery-log entries: %w", err)
	}
	return res, nil
}
