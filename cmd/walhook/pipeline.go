package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/config"
	"github.com/walhook/walhook/deliver"
	"github.com/walhook/walhook/router"
	"github.com/walhook/walhook/store"
)

// drainTimeout bounds how long shutdown waits for in-flight deliveries.
const drainTimeout = 10 * time.Second

// pipeline is a running walhook: every part and the state they share.
type pipeline struct {
	cfg     *config.Config
	lg      *logging
	reg     *prometheus.Registry
	db      *store.DB
	tracker *cdc.Tracker
	disp    *deliver.Dispatcher
	router  *router.Router
	stream  *cdc.Stream
	leader  func()
	leading chan struct{} // closed once this process holds the slot
	opts    pipelineOptions
}

// pipelineOptions are settings that do not come from the configuration
// file; `walhook bench` uses them to compare variants.
type pipelineOptions struct {
	// noDeliveryLog turns delivery-log rows off
	// (store.Options.DisableDeliveryLog); counters stay on.
	noDeliveryLog bool
}

// runPipeline runs walhook on cfg until ctx ends, then shuts down in order:
// stop reading the WAL, drain deliveries, report the final settled
// position, flush the delivery log, close the state database.
func runPipeline(ctx context.Context, cfg *config.Config, lg *logging) error {
	return runPipelineWith(ctx, cfg, lg, pipelineOptions{})
}

// runPipelineWith is runPipeline with settings from outside the
// configuration file.
func runPipelineWith(ctx context.Context, cfg *config.Config, lg *logging, opts pipelineOptions) error {
	p := &pipeline{cfg: cfg, lg: lg, reg: prometheus.NewRegistry(), leading: make(chan struct{}), opts: opts}
	p.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := p.prepareState(ctx); err != nil {
		return err
	}
	defer p.db.Close()
	return p.run(ctx)
}

// prepareState checks the source database, opens walhook's schema,
// migrates it and syncs the YAML subscribers into it.
func (p *pipeline) prepareState(ctx context.Context) error {
	if _, err := preflight(ctx, p.cfg); err != nil {
		return err
	}
	db, err := store.Open(ctx, p.cfg.State.DSN, p.cfg.State.Schema, store.Options{
		Logger:   p.lg.For("store"),
		CacheTTL: p.cfg.Cache.TTL,
		Tables:   p.cfg.Tables,

		DisableDeliveryLog:    p.opts.noDeliveryLog,
		LogFailedPayloadsOnly: p.cfg.Logs.Payloads == config.LogPayloadsFailures,
		UnloggedDeliveryLog:   p.cfg.Logs.Unlogged,
	})
	if err != nil {
		return fmt.Errorf("open state database: %w", err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return fmt.Errorf("migrate state schema %q: %w", p.cfg.State.Schema, err)
	}
	if err := db.SyncConfig(ctx, p.cfg); err != nil {
		db.Close()
		return fmt.Errorf("sync subscribers from %s: %w", p.cfg.File, err)
	}
	p.db = db
	p.warnSubscriptions(ctx)
	return nil
}

// warnSubscriptions logs subscriptions made with SQL that can never fire
// (an event neither built in nor declared for their table).
func (p *pipeline) warnSubscriptions(ctx context.Context) {
	problems, err := p.db.CheckSubscriptions(ctx, p.cfg.Events)
	log := p.lg.For("store")
	if err != nil {
		log.Warn().Err(err).Msg("check subscriptions")
		return
	}
	for _, msg := range problems {
		log.Warn().Str("problem", msg).Msg("subscription will never fire")
	}
}

// run starts the parts that every process runs (recorder, retry worker,
// cleanup, admin) and, once this process holds the leader lock, the
// replication side.
func (p *pipeline) run(ctx context.Context) error {
	log := p.lg.For("walhook")
	client, err := deliver.NewClient(deliver.ClientOptions{
		AllowNetworks:    p.cfg.Delivery.AllowNetworks,
		MaxResponseBytes: p.cfg.Delivery.MaxResponseBytes,
		MaxConnsPerHost:  p.cfg.Delivery.PerEndpointConcurrency,
		MaxIdleConns:     p.cfg.Delivery.Concurrency,
		Version:          version,
	})
	if err != nil {
		return usageError{fmt.Errorf("delivery settings: %w", err)}
	}
	disp, err := deliver.NewDispatcher(deliver.Options{
		Client:       client,
		Concurrency:  p.cfg.Delivery.Concurrency,
		PerEndpoint:  p.cfg.Delivery.PerEndpointConcurrency,
		DrainTimeout: drainTimeout,
		Recorder:     p.db,
		RetryQueue:   p.db,
		Logger:       p.lg.For("deliver"),
		Registerer:   p.reg,
	})
	if err != nil {
		return usageError{fmt.Errorf("delivery settings: %w", err)}
	}
	p.disp = disp
	srv, err := newAdminServer(p)
	if err != nil {
		return usageError{fmt.Errorf("admin: %w", err)}
	}
	ln, err := net.Listen("tcp", p.cfg.Admin.Listen)
	if err != nil {
		return usageError{fmt.Errorf("admin.listen %s: %w (choose a free address, e.g. 127.0.0.1:0)", p.cfg.Admin.Listen, err)}
	}
	log.Info().Str("admin", ln.Addr().String()).Msg("admin API and dashboard listening")

	// Background parts stop after the stream and the dispatcher, so that
	// the delivery log records the last attempts.
	// A background part that fails stops the foreground too, so walhook
	// exits with its error instead of running without it.
	ctx, stopFG := context.WithCancel(ctx)
	defer stopFG()
	bgCtx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	bg, bgCtx := errgroup.WithContext(bgCtx)
	goBG := func(part func(context.Context) error) {
		bg.Go(func() error {
			err := part(bgCtx)
			if err != nil {
				stopFG()
			}
			return err
		})
	}
	goBG(p.db.RunRecorder)
	// The retry worker shares the dispatcher's per-endpoint probe mode.
	goBG(func(ctx context.Context) error { return p.db.RunRetries(ctx, client, store.RetryOptions{Gate: disp}) })
	goBG(func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	if p.cfg.Logs.AutoCleanup && p.cfg.Logs.RetentionDays > 0 {
		retention := time.Duration(p.cfg.Logs.RetentionDays) * 24 * time.Hour
		goBG(func(ctx context.Context) error { return p.db.RunCleanup(ctx, retention, time.Hour) })
	}

	fg, fgCtx := errgroup.WithContext(ctx)
	dispCtx, stopDisp := context.WithCancel(context.WithoutCancel(fgCtx))
	defer stopDisp()
	fg.Go(func() error { return disp.Run(dispCtx) })
	fg.Go(func() error {
		defer stopDisp()
		return p.lead(fgCtx, log)
	})
	err = fg.Wait()
	stopBG()
	if bgErr := bg.Wait(); err == nil && bgErr != nil && !errors.Is(bgErr, context.Canceled) {
		err = bgErr
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// lead waits for the leader lock of the slot, then prepares the slot and
// streams from it until ctx ends.
func (p *pipeline) lead(ctx context.Context, log zerolog.Logger) error {
	log.Info().Str("slot", p.cfg.Source.Slot).Msg("waiting for the leader lock")
	release, err := p.db.AcquireLeader(ctx, p.cfg.Source.Slot)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer release()
	log.Info().Str("slot", p.cfg.Source.Slot).Msg("leader lock held")
	tables := p.publishedTables()
	follow := p.cfg.State.DSN == p.cfg.Source.DSN
	var since cdc.LSN
	if follow {
		// Before the slot may be created, so that it starts at or past
		// a saved copy of the subscription tables.
		if since, err = p.db.SaveFollowCopy(ctx, p.cfg.Source.Slot); err != nil {
			return err
		}
	}
	start, created, err := cdc.PrepareSlot(ctx, p.cfg.Source.DSN, cdc.SetupOptions{
		Slot:        p.cfg.Source.Slot,
		Publication: p.cfg.Source.Publication,
		Tables:      tables,
	})
	if err != nil {
		return fmt.Errorf("prepare replication: %w", err)
	}
	p.tracker = cdc.NewTracker(start)
	if follow {
		// The subscription tables travel through the stream: route from
		// a copy of them that changes exactly where the stream does.
		if err := p.db.StartFollowing(ctx, p.cfg.Source.Slot, start, created, since); err != nil {
			return err
		}
	}
	rows, closeRows, err := p.rowReader(ctx)
	if err != nil {
		return err
	}
	defer closeRows()
	pause, err := p.db.PauseState(ctx)
	if err != nil {
		return fmt.Errorf("read pause state: %w", err)
	}
	if at, ok := p.db.FollowedPause(); ok {
		// As of the slot's position, not the control row's latest.
		pause.Paused, pause.Mode = at.Paused, at.Mode
	}
	rt, err := router.New(router.Options{
		Source:     p.db,
		Submitter:  p.disp,
		Tracker:    router.TrackerOf(p.tracker),
		Recorder:   p.db,
		Holder:     p.disp, // holds through p.db, behind the rows' events in memory
		Rows:       rows,
		Pause:      router.Pause{Paused: pause.Paused, Mode: router.PauseMode(pause.Mode)},
		Events:     p.cfg.Events,
		Tables:     tables,
		Schema:     p.cfg.State.Schema,
		Disabled:   p.cfg.Disabled,
		Logger:     p.lg.For("router"),
		Registerer: p.reg,
	})
	if err != nil {
		return fmt.Errorf("build router: %w", err)
	}
	p.router = rt
	p.stream = cdc.NewStream(cdc.StreamOptions{
		DSN:          p.cfg.Source.DSN,
		Slot:         p.cfg.Source.Slot,
		Publication:  p.cfg.Source.Publication,
		Start:        start,
		Logger:       p.lg.For("cdc"),
		Settled:      p.tracker.Settled,
		DrainTimeout: drainTimeout,
		Registerer:   p.reg,
	})
	close(p.leading)
	log.Info().Str("slot", p.cfg.Source.Slot).Stringer("start_lsn", start).Strs("tables", tables).Msg("streaming")
	return p.stream.Run(ctx, rt)
}

// publishedTables is every table walhook reads: the configured ones, the
// subscribers' and events' tables, and walhook's own steering tables.
func (p *pipeline) publishedTables() []string {
	set := map[string]bool{}
	for _, t := range p.cfg.Tables {
		set[t.Name] = true
	}
	for _, s := range p.cfg.Subscribers {
		set[s.Table] = true
	}
	for _, e := range p.cfg.Events {
		set[e.Table] = true
	}
	if p.cfg.State.DSN == p.cfg.Source.DSN {
		// walhook's steering tables travel through the stream only when
		// they live in the source database; otherwise cache.ttl bounds
		// staleness and pause takes effect when the control row is read.
		for _, t := range p.db.PublishedTables() {
			set[t] = true
		}
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// rowReader reads application rows for custom events and manual sends:
// through the state pool when state and source share a database, else
// through a small pool of its own (closed by the returned function).
func (p *pipeline) rowReader(ctx context.Context) (router.RowReader, func(), error) {
	if p.cfg.State.DSN == p.cfg.Source.DSN {
		return p.db, func() {}, nil
	}
	rows, err := store.OpenRows(ctx, p.cfg.Source.DSN)
	if err != nil {
		return nil, nil, err
	}
	return rows, rows.Close, nil
}
