package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/walhook/walhook/admin"
	"github.com/walhook/walhook/router"
)

func init() { commands = append(commands, newSubscribersCmd) }

func newSubscribersCmd(g *globalFlags) *cobra.Command {
	c := &cobra.Command{
		Use:   "subscribers",
		Short: "List subscribers; enable, disable or reset one (the Django admin actions)",
	}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List subscribers with their health, counters and subscriptions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withState(cmd, g, func(ctx context.Context, s *stateAPI) error {
				subs, err := s.ListSubscribers(ctx)
				if err != nil {
					return err
				}
				return newOutput(cmd, asJSON).emit(subs, func(w io.Writer) { printSubscriberList(w, subs) })
			})
		},
	}
	addJSONFlag(list, &asJSON)
	c.AddCommand(list, subscriberShowCmd(g),
		subscriberAction(g, "enable", "Activate a subscriber: clears its failure streak and auto-disable and releases the events held for it", true),
		subscriberAction(g, "disable", "Deactivate a subscriber: its future events are dropped, not held", false),
		subscriberResetCmd(g))
	return c
}

// withState opens the state for a command and closes it after fn.
func withState(cmd *cobra.Command, g *globalFlags, fn func(context.Context, *stateAPI) error) error {
	ctx := cmd.Context()
	s, err := openState(ctx, cmd, g, true)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(ctx, s)
}

func subscriberAction(g *globalFlags, verb, short string, active bool) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " NAME|ID",
		Short: short,
		Args:  exactArgs(1, "the subscriber's name or id, e.g. walhook subscribers "+verb+" \"My External API\""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withState(cmd, g, func(ctx context.Context, s *stateAPI) error {
				id, name, err := s.resolveSubscriber(ctx, args[0])
				if err != nil {
					return err
				}
				sub, err := s.GetSubscriber(ctx, id)
				if err != nil {
					return err
				}
				if err := s.SetSubscriberActive(ctx, id, active); err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "subscriber %q (id %d) %sd\n", name, id, verb)
				if sub.ConfigManaged && !active {
					fmt.Fprintf(w, "note: %q is declared in %s; the next walhook start sets is_active from the file again (add is_active: false there to keep it off)\n", name, s.cfg.File)
				}
				return nil
			})
		},
	}
}

func subscriberShowCmd(g *globalFlags) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "show NAME|ID",
		Short: "Show one subscriber: health, counters, settings and subscriptions",
		Args:  exactArgs(1, "the subscriber's name or id, e.g. walhook subscribers show \"My External API\""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withState(cmd, g, func(ctx context.Context, s *stateAPI) error {
				id, _, err := s.resolveSubscriber(ctx, args[0])
				if err != nil {
					return err
				}
				sub, err := s.GetSubscriber(ctx, id)
				if err != nil {
					return err
				}
				return newOutput(cmd, asJSON).emit(sub, func(w io.Writer) {
					printSubscriberDetail(w, sub)
					fmt.Fprintf(w, "  settings: max_retries %d, retry_delay %s, timeout %s, auto_disable_after_failures %d, secret %s, managed by %s\n",
						sub.MaxRetries, sub.RetryDelay, sub.Timeout, sub.AutoDisableAfterFailures, orDash(sub.SecretHint), managedBy(sub.ConfigManaged))
				})
			})
		},
	}
	addJSONFlag(c, &asJSON)
	return c
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func managedBy(config bool) string {
	if config {
		return "the configuration file"
	}
	return "SQL"
}

func subscriberResetCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "reset NAME|ID",
		Short: "Zero a subscriber's and its subscriptions' delivery counters and failure streak",
		Args:  exactArgs(1, "the subscriber's name or id, e.g. walhook subscribers reset \"My External API\""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withState(cmd, g, func(ctx context.Context, s *stateAPI) error {
				id, name, err := s.resolveSubscriber(ctx, args[0])
				if err != nil {
					return err
				}
				if err := s.ResetSubscriberCounters(ctx, id); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "subscriber %q (id %d): counters reset\n", name, id)
				return nil
			})
		},
	}
}

// exactArgs is cobra.ExactArgs with a usage error that says what to give.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d: give %s", cmd.CommandPath(), n, len(args), what)
		}
		return nil
	}
}

func printSubscriberList(w io.Writer, subs []admin.Subscriber) {
	if len(subs) == 0 {
		fmt.Fprintln(w, "no subscribers")
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tHEALTH\tTABLE\tEVENTS\tDELIVERIES\tSUCCESS\tFAILING\tTARGET")
	for _, s := range subs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\n", s.ID, s.Name, activeWord(s.IsActive), s.Health,
			s.Table, eventList(s.Subscriptions), s.TotalDeliveries, percent(s.SuccessRate, s.TotalDeliveries),
			s.ConsecutiveFailures, s.TargetURL)
	}
	tw.Flush()
}

func activeWord(active bool) string {
	if active {
		return "active"
	}
	return "inactive"
}

func eventList(subs []admin.Subscription) string {
	out := ""
	for i, s := range subs {
		if i > 0 {
			out += ","
		}
		out += s.Event
		if !s.IsActive {
			out += "(off)"
		}
	}
	if out == "" {
		return "-"
	}
	return out
}

// subscriberColumns is the select list scanned by scanSubscriber.
const subscriberColumns = `SELECT id, name, description, table_name, target_url, is_active, config_managed,
       total_deliveries, successful_deliveries, failed_deliveries, consecutive_failures,
       coalesce(success_rate, 0)::float8, health, last_success_at, last_failure_at,
       coalesce(disabled_reason, ''), max_retries, retry_delay_ms, timeout_ms,
       auto_disable_after_failures, secrets
FROM {{schema}}.subscribers_v `

func scanSubscriber(row pgx.CollectableRow) (admin.Subscriber, error) {
	var s admin.Subscriber
	var health string
	var lastOK, lastFail *time.Time
	var retryMS, timeoutMS int64
	var secrets []string
	err := row.Scan(&s.ID, &s.Name, &s.Description, &s.Table, &s.TargetURL, &s.IsActive, &s.ConfigManaged,
		&s.TotalDeliveries, &s.SuccessfulDeliveries, &s.FailedDeliveries, &s.ConsecutiveFailures,
		&s.SuccessRate, &health, &lastOK, &lastFail, &s.DisabledReason, &s.MaxRetries, &retryMS, &timeoutMS,
		&s.AutoDisableAfterFailures, &secrets)
	if err != nil {
		return s, err
	}
	s.RetryDelay = time.Duration(retryMS) * time.Millisecond
	s.Timeout = time.Duration(timeoutMS) * time.Millisecond
	if lastOK != nil {
		s.LastSuccessAt = *lastOK
	}
	if lastFail != nil {
		s.LastFailureAt = *lastFail
	}
	if len(secrets) > 0 {
		s.SecretHint = admin.SecretHint(secrets[0])
	}
	switch health {
	case admin.Healthy, admin.Warning, admin.Critical:
		s.Health = health
	default: // "inactive": switched off by hand or removed from the file,
		// which is no failure: its health is that of its failure streak.
		h := s
		h.IsActive, h.DisabledReason = true, ""
		s.Health = admin.HealthOf(h)
	}
	return s, nil
}

// ListSubscribers returns every subscriber ordered by name, each with its
// subscriptions and their last five deliveries.
func (s *stateAPI) ListSubscribers(ctx context.Context) ([]admin.Subscriber, error) {
	return s.querySubscribers(ctx, `ORDER BY name`)
}

// GetSubscriber returns one subscriber, or an error wrapping
// admin.ErrNotFound.
func (s *stateAPI) GetSubscriber(ctx context.Context, id int64) (admin.Subscriber, error) {
	subs, err := s.querySubscribers(ctx, `WHERE id = $1`, id)
	if err != nil {
		return admin.Subscriber{}, err
	}
	if len(subs) == 0 {
		return admin.Subscriber{}, admin.NotFound("no subscriber has id %d", id)
	}
	return subs[0], nil
}

func (s *stateAPI) querySubscribers(ctx context.Context, where string, args ...any) ([]admin.Subscriber, error) {
	rows, err := s.db.Pool().Query(ctx, s.sql(subscriberColumns+where), args...)
	if err != nil {
		return nil, fmt.Errorf("list subscribers: %w", err)
	}
	subs, err := pgx.CollectRows(rows, scanSubscriber)
	if err != nil {
		return nil, fmt.Errorf("list subscribers: %w", err)
	}
	if len(subs) == 0 {
		return []admin.Subscriber{}, nil
	}
	if err := s.attachSubscriptions(ctx, subs); err != nil {
		return nil, err
	}
	return subs, nil
}

const subscriptionsSQL = `SELECT id, subscriber_id, event_name, custom_endpoint, is_active,
       total_deliveries, successful_deliveries, failed_deliveries, coalesce(success_rate, 0)::float8
FROM {{schema}}.subscriptions_v WHERE subscriber_id = ANY($1) ORDER BY subscriber_id, event_name`

// recentSQL reads the last five attempts of each subscription, newest
// (highest id) first, by a backward scan of the (subscription_id, id)
// index that stops after five rows.
const recentSQL = `SELECT s.id, l.id, l.created_at, coalesce(l.response_status, 0)
FROM unnest($1::bigint[]) AS s(id)
CROSS JOIN LATERAL (
    SELECT id, created_at, response_status FROM {{schema}}.delivery_log
    WHERE subscription_id = s.id ORDER BY id DESC LIMIT 5
) l ORDER BY s.id, l.id DESC`

// attachSubscriptions fills in each subscriber's subscriptions with their
// resolved endpoints and recent deliveries.
func (s *stateAPI) attachSubscriptions(ctx context.Context, subs []admin.Subscriber) error {
	byID := make(map[int64]*admin.Subscriber, len(subs))
	ids := make([]int64, len(subs))
	for i := range subs {
		subs[i].Subscriptions = []admin.Subscription{}
		byID[subs[i].ID], ids[i] = &subs[i], subs[i].ID
	}
	rows, err := s.db.Pool().Query(ctx, s.sql(subscriptionsSQL), ids)
	if err != nil {
		return fmt.Errorf("list subscriptions: %w", err)
	}
	var sn admin.Subscription
	var owner int64
	var subIDs []int64
	_, err = pgx.ForEachRow(rows, []any{&sn.ID, &owner, &sn.Event, &sn.CustomEndpoint, &sn.IsActive,
		&sn.TotalDeliveries, &sn.SuccessfulDeliveries, &sn.FailedDeliveries, &sn.SuccessRate}, func() error {
		sub := byID[owner]
		v := sn
		v.RecentDeliveries = []admin.DeliverySummary{}
		if ep, err := router.ResolveEndpoint(sub.TargetURL, v.CustomEndpoint); err == nil {
			v.Endpoint = ep
		}
		sub.Subscriptions = append(sub.Subscriptions, v)
		subIDs = append(subIDs, v.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("list subscriptions: %w", err)
	}
	return s.attachRecent(ctx, subs, subIDs)
}

func (s *stateAPI) attachRecent(ctx context.Context, subs []admin.Subscriber, subIDs []int64) error {
	if len(subIDs) == 0 {
		return nil
	}
	index := map[int64]*admin.Subscription{}
	for i := range subs {
		for j := range subs[i].Subscriptions {
			sn := &subs[i].Subscriptions[j]
			index[sn.ID] = sn
		}
	}
	rows, err := s.db.Pool().Query(ctx, s.sql(recentSQL), subIDs)
	if err != nil {
		return fmt.Errorf("read recent deliveries: %w", err)
	}
	var owner int64
	var d admin.DeliverySummary
	_, err = pgx.ForEachRow(rows, []any{&owner, &d.ID, &d.CreatedAt, &d.ResponseStatus}, func() error {
		d.IsSuccess = d.ResponseStatus >= 200 && d.ResponseStatus < 300
		sn := index[owner]
		sn.RecentDeliveries = append(sn.RecentDeliveries, d)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read recent deliveries: %w", err)
	}
	return nil
}

// SetSubscriberActive activates or deactivates a subscriber (see
// store.DB.SetSubscriberActive); an unknown id wraps admin.ErrNotFound.
func (s *stateAPI) SetSubscriberActive(ctx context.Context, id int64, active bool) error {
	return markNotFound(s.db.SetSubscriberActive(ctx, id, active))
}

// ResetSubscriberCounters zeroes the delivery counters, failure streaks
// and last success/failure times of a subscriber and its subscriptions
// (store.DB.ResetCounters); an unknown id wraps admin.ErrNotFound. The
// delivery log is kept.
func (s *stateAPI) ResetSubscriberCounters(ctx context.Context, id int64) error {
	if _, err := s.GetSubscriber(ctx, id); err != nil {
		return err
	}
	return s.db.ResetCounters(ctx, id)
}
