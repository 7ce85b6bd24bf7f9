package main

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/walhook/walhook/admin"
	"github.com/walhook/walhook/store"
)

func init() { commands = append(commands, newRedeliverCmd) }

func newRedeliverCmd(g *globalFlags) *cobra.Command {
	var (
		sub, eventID    string
		failed, pending bool
		asJSON          bool
	)
	c := &cobra.Command{
		Use:   "redeliver",
		Short: "Put failed retry-queue entries back to pending, due now",
		Long: `redeliver makes entries of the durable retry queue due now. By default (or
with --failed) it selects entries that gave up ('failed': retries exhausted or
a permanent error) and gives them a fresh retry schedule; --pending also makes
entries still waiting for their next retry due now. A running walhook (any
process) picks them up within a second. Entries held for an auto-disabled
subscriber are released by enabling it (walhook subscribers enable NAME), and
entries held by a pause in hold mode by walhook resume.`,
		Example: `  walhook redeliver                         # every failed entry
  walhook redeliver --subscriber "My External API"
  walhook redeliver --event-id evt_00000000016b6c50_3_9a1c22f0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withState(cmd, g, func(ctx context.Context, s *stateAPI) error {
				r := redelivery{EventID: eventID, Failed: failed || !pending, Pending: pending}
				if sub != "" {
					id, _, err := s.resolveSubscriber(ctx, sub)
					if err != nil {
						return err
					}
					r.SubscriberID = id
				}
				n, err := s.redeliver(ctx, r)
				if err != nil {
					return err
				}
				res := map[string]any{"redelivered": n}
				if err := newOutput(cmd, asJSON).emit(res, func(w io.Writer) {
					fmt.Fprintf(w, "%d retry-queue entries are due now\n", n)
				}); err != nil {
					return err
				}
				if n == 0 && eventID != "" {
					return fmt.Errorf("no %s retry-queue entry has event id %q: it may have been delivered already (see walhook logs list)", r.statusWords(), eventID)
				}
				return nil
			})
		},
	}
	fl := c.Flags()
	fl.StringVar(&sub, "subscriber", "", "only this subscriber's entries (name or id)")
	fl.StringVar(&eventID, "event-id", "", "only the entries of this event id (webhook-id)")
	fl.BoolVar(&failed, "failed", false, "select failed entries (the default)")
	fl.BoolVar(&pending, "pending", false, "also make entries waiting for their next retry due now (alone: only those)")
	addJSONFlag(c, &asJSON)
	return c
}

// redelivery selects retry-queue entries to make due now.
type redelivery struct {
	SubscriberID int64
	EventID      string
	// Failed selects 'failed' entries, which also get a fresh retry
	// schedule; Pending selects 'pending' ones not leased to a worker.
	Failed, Pending bool
}

func (r redelivery) statusWords() string {
	switch {
	case r.Failed && r.Pending:
		return "failed or pending"
	case r.Pending:
		return "pending"
	default:
		return "failed"
	}
}

// redeliver makes the selected entries pending and due now, and returns
// how many. Failed entries go through store.DB.Redeliver (fresh retry
// budget, per-row order set updated); pending ones leased to a worker
// right now are left alone.
func (s *stateAPI) redeliver(ctx context.Context, r redelivery) (int, error) {
	var total int64
	if r.Failed {
		n, err := s.db.Redeliver(ctx, store.RedeliverFilter{SubscriberID: r.SubscriberID, EventID: r.EventID})
		if err != nil {
			return 0, err
		}
		total += n
	}
	if r.Pending {
		tag, err := s.db.Pool().Exec(ctx, s.sql(`UPDATE {{schema}}.retry_queue SET next_attempt_at = now(), updated_at = now()
WHERE status = 'pending' AND next_attempt_at > now() AND ($1 = 0 OR subscriber_id = $1) AND ($2 = '' OR event_id = $2)
  AND (locked_until IS NULL OR locked_until < now())`), r.SubscriberID, r.EventID)
		if err != nil {
			return int(total), fmt.Errorf("make pending retry-queue entries due now: %w", err)
		}
		total += tag.RowsAffected()
	}
	return int(total), nil
}

// Redeliver makes the failed entries selected by r due now (admin.Retries).
func (s *stateAPI) Redeliver(ctx context.Context, r admin.Redelivery) (int, error) {
	if r.SubscriberID != 0 {
		if _, err := s.GetSubscriber(ctx, r.SubscriberID); err != nil {
			return 0, err
		}
	}
	return s.redeliver(ctx, redelivery{SubscriberID: r.SubscriberID, EventID: r.EventID, Failed: true})
}

// QueueDepth counts retry-queue entries by status; every status is
// present, zero when empty.
func (s *stateAPI) QueueDepth(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{"pending": 0, "held": 0, "failed": 0, "disabled": 0}
	rows, err := s.db.Pool().Query(ctx, s.sql(`SELECT status, count(*) FROM {{schema}}.retry_queue GROUP BY status`))
	if err != nil {
		return nil, fmt.Errorf("count retry queue: %w", err)
	}
	var status string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&status, &n}, func() error { out[status] = n; return nil }); err != nil {
		return nil, fmt.Errorf("count retry queue: %w", err)
	}
	return out, nil
}
