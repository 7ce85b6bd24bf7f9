package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/walhook/walhook/admin"
)

func init() { commands = append(commands, newStatusCmd) }

func newStatusCmd(g *globalFlags) *cobra.Command {
	var detailed, asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show subscribers, deliveries, the retry queue, pause state and slot lag (webhook_status)",
		Long: `status reads walhook's state schema and the source database: subscribers
active and inactive by health, deliveries and success rate of the last 24 hours,
the retry queue by status, the pause switch, the replication slot's lag and
wal_status, and which process holds the slot. --detailed adds each subscriber
with its health, counters, last success and failure and its subscriptions.
It works whether or not walhook is running.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withState(cmd, g, func(ctx context.Context, s *stateAPI) error {
				rep, err := s.statusReport(ctx, detailed)
				if err != nil {
					return err
				}
				return newOutput(cmd, asJSON).emit(rep, func(w io.Writer) { printStatus(w, rep) })
			})
		},
	}
	c.Flags().BoolVar(&detailed, "detailed", false, "also show every subscriber in detail")
	addJSONFlag(c, &asJSON)
	return c
}

// statusReport is what walhook status shows.
type statusReport struct {
	Schema              string             `json:"schema"`
	SchemaVersion       int                `json:"schema_version"`
	SubscribersActive   int                `json:"subscribers_active"`
	SubscribersInactive int                `json:"subscribers_inactive"`
	SubscribersByHealth map[string]int     `json:"subscribers_by_health"`
	Deliveries24h       int64              `json:"deliveries_24h"`
	Failed24h           int64              `json:"failed_24h"`
	SuccessRate24h      float64            `json:"success_rate_24h"`
	QueueDepth          map[string]int64   `json:"queue_depth"`
	Pause               admin.PauseState   `json:"pause"`
	Slot                slotInfo           `json:"slot"`
	Leader              leaderInfo         `json:"leader"`
	Problems            []string           `json:"problems,omitempty"`
	Subscribers         []admin.Subscriber `json:"subscribers,omitempty"`
}

// statusReport gathers the report; parts that cannot be read are listed
// in Problems and the rest is still shown.
func (s *stateAPI) statusReport(ctx context.Context, detailed bool) (statusReport, error) {
	rep := statusReport{Schema: s.db.Schema(), SubscribersByHealth: map[string]int{admin.Healthy: 0, admin.Warning: 0, admin.Critical: 0}}
	var err error
	if rep.SchemaVersion, err = s.schemaVersion(ctx); err != nil {
		return rep, err
	}
	subs, err := s.ListSubscribers(ctx)
	if err != nil {
		return rep, err
	}
	for _, sub := range subs {
		if sub.IsActive {
			rep.SubscribersActive++
		} else {
			rep.SubscribersInactive++
		}
		rep.SubscribersByHealth[sub.Health]++
	}
	if detailed {
		rep.Subscribers = subs
	}
	problem := func(part string, err error) {
		if err != nil {
			rep.Problems = append(rep.Problems, part+": "+err.Error())
		}
	}
	st, err := s.LogStats(ctx, 1)
	problem("delivery log", err)
	rep.Deliveries24h, rep.Failed24h, rep.SuccessRate24h = st.Total, st.Failed, st.SuccessRate
	rep.QueueDepth, err = s.QueueDepth(ctx)
	problem("retry queue", err)
	rep.Pause, err = s.PauseState(ctx)
	problem("pause state", err)
	rep.Slot, err = s.slot(ctx)
	problem("replication slot", err)
	rep.Leader, err = s.leader(ctx)
	problem("leader", err)
	return rep, nil
}

// slotInfo describes the replication slot named by source.slot.
type slotInfo struct {
	Name   string `json:"name"`
	Exists bool   `json:"exists"`
	Active bool   `json:"active"`
	// WALStatus is pg_replication_slots.wal_status: reserved, extended,
	// unreserved or lost.
	WALStatus         string `json:"wal_status,omitempty"`
	ConfirmedFlushLSN string `json:"confirmed_flush_lsn,omitempty"`
	LagBytes          int64  `json:"lag_bytes"`
}

// slot reads the slot from the source database (slot names are
// cluster-wide: one of the same name in another database is another
// walhook's).
func (s *stateAPI) slot(ctx context.Context) (slotInfo, error) {
	info := slotInfo{Name: s.cfg.Source.Slot}
	err := s.withSource(ctx, func(q querier) error {
		var lag *int64
		var walStatus, flush *string
		err := q.QueryRow(ctx, `SELECT active, wal_status, confirmed_flush_lsn::text,
       CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint END
FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()`, info.Name).Scan(&info.Active, &walStatus, &flush, &lag)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		info.Exists = true
		info.WALStatus, info.ConfirmedFlushLSN = deref(walStatus), deref(flush)
		if lag != nil {
			info.LagBytes = *lag
		}
		return nil
	})
	if err != nil {
		return info, fmt.Errorf("read replication slot %q: %w", info.Name, err)
	}
	return info, nil
}

// SlotLagBytes is the WAL distance from the slot's confirmed flush
// position to the server's current position (admin.Lag); 0 when the slot
// does not exist yet.
func (s *stateAPI) SlotLagBytes(ctx context.Context) (int64, error) {
	info, err := s.slot(ctx)
	return info.LagBytes, err
}

// leaderInfo is the process holding the slot's leader lock.
type leaderInfo struct {
	// PID is the backend holding the lock; 0 when no walhook streams.
	PID         int       `json:"pid,omitempty"`
	Application string    `json:"application,omitempty"`
	ClientAddr  string    `json:"client_addr,omitempty"`
	Since       time.Time `json:"since,omitzero"`
}

// leader finds the session holding the leader lock of source.slot (see
// store.DB.AcquireLeader) in pg_locks, without taking it: a bigint
// advisory lock shows as classid (high 32 bits) and objid (low 32 bits)
// with objsubid 1.
func (s *stateAPI) leader(ctx context.Context) (leaderInfo, error) {
	var li leaderInfo
	var app, addr *string
	var since *time.Time
	err := s.db.Pool().QueryRow(ctx, `SELECT l.pid, a.application_name, host(a.client_addr), a.backend_start
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended('walhook.leader:' || $1, 0)
LIMIT 1`, s.cfg.Source.Slot).Scan(&li.PID, &app, &addr, &since)
	if errors.Is(err, pgx.ErrNoRows) {
		return leaderInfo{}, nil
	}
	if err != nil {
		return li, fmt.Errorf("find the leader of slot %q: %w", s.cfg.Source.Slot, err)
	}
	li.Application, li.ClientAddr = deref(app), deref(addr)
	if since != nil {
		li.Since = *since
	}
	return li, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func printStatus(w io.Writer, r statusReport) {
	tw := newTable(w)
	fmt.Fprintf(tw, "Schema:\t%s (version %d)\n", r.Schema, r.SchemaVersion)
	fmt.Fprintf(tw, "Subscribers:\t%d active, %d inactive (healthy %d, warning %d, critical %d)\n",
		r.SubscribersActive, r.SubscribersInactive, r.SubscribersByHealth[admin.Healthy],
		r.SubscribersByHealth[admin.Warning], r.SubscribersByHealth[admin.Critical])
	fmt.Fprintf(tw, "Last 24h:\t%d deliveries, %d failed, success rate %s\n",
		r.Deliveries24h, r.Failed24h, percent(r.SuccessRate24h, r.Deliveries24h))
	fmt.Fprintf(tw, "Retry queue:\t%s\n", queueWords(r.QueueDepth))
	fmt.Fprintf(tw, "Pause:\t%s\n", pauseWords(r.Pause))
	fmt.Fprintf(tw, "Slot %s:\t%s\n", r.Slot.Name, slotWords(r.Slot))
	fmt.Fprintf(tw, "Leader:\t%s\n", leaderWords(r.Leader))
	tw.Flush()
	for _, p := range r.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
	for _, sub := range r.Subscribers {
		fmt.Fprintln(w)
		printSubscriberDetail(w, sub)
	}
}

func queueWords(d map[string]int64) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", d[k], k)
	}
	return strings.Join(parts, ", ")
}

func pauseWords(p admin.PauseState) string {
	if !p.Paused {
		return "running (not paused)"
	}
	return fmt.Sprintf("PAUSED in %s mode since %s", p.Mode, ago(p.Since))
}

func slotWords(s slotInfo) string {
	if !s.Exists {
		return "does not exist yet (walhook run creates it)"
	}
	state := "inactive (no walhook streaming)"
	if s.Active {
		state = "active"
	}
	return fmt.Sprintf("%s, lag %s, wal_status %s, confirmed flush %s", state, bytesIEC(s.LagBytes), s.WALStatus, s.ConfirmedFlushLSN)
}

func leaderWords(l leaderInfo) string {
	if l.PID == 0 {
		return "none: no walhook process holds the slot"
	}
	out := fmt.Sprintf("backend pid %d", l.PID)
	if l.ClientAddr != "" {
		out += " from " + l.ClientAddr
	}
	if !l.Since.IsZero() {
		out += ", connected " + ago(l.Since)
	}
	return out
}

func printSubscriberDetail(w io.Writer, s admin.Subscriber) {
	fmt.Fprintf(w, "%s (id %d): %s, %s\n", s.Name, s.ID, activeWord(s.IsActive), strings.ToUpper(s.Health))
	if s.DisabledReason != "" {
		fmt.Fprintf(w, "  disabled: %s\n", s.DisabledReason)
	}
	fmt.Fprintf(w, "  %s -> %s\n", s.Table, s.TargetURL)
	fmt.Fprintf(w, "  deliveries %d (%d ok, %d failed), success rate %s, consecutive failures %d of %d allowed\n",
		s.TotalDeliveries, s.SuccessfulDeliveries, s.FailedDeliveries, percent(s.SuccessRate, s.TotalDeliveries),
		s.ConsecutiveFailures, s.AutoDisableAfterFailures)
	fmt.Fprintf(w, "  last success %s, last failure %s\n", ago(s.LastSuccessAt), ago(s.LastFailureAt))
	if len(s.Subscriptions) == 0 {
		fmt.Fprintln(w, "  no subscriptions")
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "  EVENT\tSTATE\tDELIVERIES\tOK\tFAILED\tSUCCESS\tENDPOINT")
	for _, sn := range s.Subscriptions {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%s\t%s\n", sn.Event, activeWord(sn.IsActive), sn.TotalDeliveries,
			sn.SuccessfulDeliveries, sn.FailedDeliveries, percent(sn.SuccessRate, sn.TotalDeliveries), sn.Endpoint)
	}
	tw.Flush()
}
