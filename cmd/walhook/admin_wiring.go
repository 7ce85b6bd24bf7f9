package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/admin"
	"github.com/walhook/walhook/router"
)

// newAdminServer builds the admin server of a running pipeline: the JSON
// API, dashboard, /metrics (p.reg and admin's own registry), /healthz and
// /readyz. p.db must be open and p.disp built; p.router may still be nil
// (a standby, or before the leader lock is held). It starts nothing: run
// srv.Run(ctx) in the pipeline's errgroup.
func newAdminServer(p *pipeline) (*admin.Server, error) {
	a := newAdminAdapter(p)
	own := prometheus.NewRegistry()
	srv, err := admin.New(admin.Options{
		Listen:      p.cfg.Admin.Listen,
		Token:       p.cfg.Admin.Token,
		Subscribers: a,
		Tester:      a,
		Logs:        a,
		Cache:       a,
		Control:     a,
		Sender:      a,
		Retries:     a,
		Lag:         a,
		Health:      a,
		Gatherer:    prometheus.Gatherers{p.reg, own},
		Registerer:  own,
		Logger:      p.lg.For("admin"),
		Version:     version,
		StartedAt:   time.Now(),
	})
	if err != nil {
		return nil, usageError{fmt.Errorf("admin settings in %s: %w", p.cfg.File, err)}
	}
	return srv, nil
}

// adminAdapter serves admin's interfaces from a running pipeline: state
// reads and changes through stateAPI, the subscription cache of this
// process, tests through the dispatcher's client, manual sends through
// the streaming router (or, on a standby, a router of their own that
// submits to the dispatcher).
type adminAdapter struct {
	*stateAPI
	p *pipeline
}

var (
	_ admin.Subscribers = (*adminAdapter)(nil)
	_ admin.Tester      = (*adminAdapter)(nil)
	_ admin.Logs        = (*adminAdapter)(nil)
	_ admin.Cache       = (*adminAdapter)(nil)
	_ admin.Control     = (*adminAdapter)(nil)
	_ admin.Sender      = (*adminAdapter)(nil)
	_ admin.Retries     = (*adminAdapter)(nil)
	_ admin.Lag         = (*adminAdapter)(nil)
	_ admin.Health      = (*adminAdapter)(nil)
)

func newAdminAdapter(p *pipeline) *adminAdapter {
	return &adminAdapter{stateAPI: &stateAPI{db: p.db, cfg: p.cfg, by: "admin API"}, p: p}
}

// leaderRouter is the streaming router once this process leads, else nil.
// p.leading is closed after p.router is set, which orders the read.
func (a *adminAdapter) leaderRouter() *router.Router {
	select {
	case <-a.p.leading:
		return a.p.router
	default:
		return nil
	}
}

// CacheStats returns this process's subscription cache statistics.
func (a *adminAdapter) CacheStats(context.Context) (admin.CacheStats, error) {
	st := a.db.CacheStats()
	return admin.CacheStats{
		Hits:      uint64(st.Hits),
		Misses:    uint64(st.Misses),
		HitRatio:  st.HitRatio,
		Keys:      int64(st.Keys),
		Evictions: st.Evictions,
	}, nil
}

// ClearCache drops cached subscriptions of table and event ("" matches
// all).
func (a *adminAdapter) ClearCache(_ context.Context, table, event string) error {
	a.db.ClearCache(table, event)
	return nil
}

// WarmCache loads every subscription into this process's cache.
func (a *adminAdapter) WarmCache(ctx context.Context) (int, error) {
	return a.db.WarmCache(ctx)
}

// Resume clears the pause switch; when no walhook streams the slot it
// also releases events held by a pause in hold mode (the streaming router
// does that itself at the resume's point in the WAL).
func (a *adminAdapter) Resume(ctx context.Context) error {
	_, err := a.resume(ctx, false)
	return err
}

// TestSubscriber posts a signed test event (payload, or the default test
// event when nil) to the subscriber's target URL.
func (a *adminAdapter) TestSubscriber(ctx context.Context, id int64, payload json.RawMessage) (admin.TestResult, error) {
	targets, err := a.testTargets(ctx, []int64{id})
	if err != nil {
		return admin.TestResult{}, err
	}
	if len(targets) == 0 {
		return admin.TestResult{}, admin.NotFound("no subscriber has id %d", id)
	}
	if len(payload) > 0 && !json.Valid(payload) {
		return admin.TestResult{}, admin.Invalid("the test payload is not JSON; send e.g. {\"test\": true}")
	}
	if a.p.disp == nil {
		return admin.TestResult{}, errors.New("test subscriber: delivery is not running in this process yet")
	}
	t := &targets[0]
	return testDelivery(ctx, a.p.disp.Client(), t.endpoint(t.target), t.table, []byte(payload)), nil
}

// Send routes a manual event. key is a scalar for a one-column primary
// key or a map of columns. Unknown table, event or row is a not-found
// error; a key that does not fit, or a send the router refuses (paused,
// disabled, no active subscription), is invalid.
func (a *adminAdapter) Send(ctx context.Context, table string, key any, event string, eventContext json.RawMessage) (int, error) {
	if err := checkEvent(a.stateAPI, table, event); err != nil {
		return 0, admin.MarkNotFound(err)
	}
	k, err := a.sendKey(ctx, table, key)
	if err != nil {
		return 0, markKeyError(err)
	}
	var n int
	err = a.withRows(ctx, func(rows router.RowReader) error {
		if _, _, found, err := rows.ReadRow(ctx, table, k); err != nil {
			return err
		} else if !found {
			b, _ := json.Marshal(k)
			return admin.NotFound("no row of %s has key %s", table, b)
		}
		rt, err := a.sendRouter(ctx, rows)
		if err != nil {
			return err
		}
		n, err = rt.Send(ctx, table, k, event, eventContext)
		if err != nil && n == 0 && ctx.Err() == nil {
			return admin.MarkInvalid(err)
		}
		return err
	})
	return n, err
}

// sendRouter is the streaming router, or on a standby a manual router
// that hands events to this process's dispatcher.
func (a *adminAdapter) sendRouter(ctx context.Context, rows router.RowReader) (*router.Router, error) {
	if rt := a.leaderRouter(); rt != nil {
		return rt, nil
	}
	if a.p.disp == nil {
		return nil, errors.New("send: delivery is not running in this process yet")
	}
	return newManualRouter(ctx, a.stateAPI, a.p.disp, rows)
}

func markKeyError(err error) error {
	var ke *keyError
	switch {
	case errors.As(err, &ke) && ke.notFound:
		return admin.MarkNotFound(err)
	case errors.As(err, &ke):
		return admin.MarkInvalid(err)
	default:
		return err
	}
}

// Ready is nil when the state database answers and, when this process
// streams, its replication slot is active; a standby is ready when the
// state database answers.
func (a *adminAdapter) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := a.db.Pool().Ping(ctx); err != nil {
		return fmt.Errorf("state database unreachable: %w", err)
	}
	if a.leaderRouter() == nil {
		return nil
	}
	slot, err := a.slot(ctx)
	if err != nil {
		return err
	}
	if !slot.Active {
		return fmt.Errorf("replication slot %q is not streaming (walhook is reconnecting)", slot.Name)
	}
	return nil
}
