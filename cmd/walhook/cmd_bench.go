package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/walhook/walhook/config"
	"github.com/walhook/walhook/deliver"
	"github.com/walhook/walhook/internal/pgcluster"
)

func init() { commands = append(commands, newBenchCmd) }

// benchName names what bench creates in a database, apart from a real
// walhook's: publication and state schema, and the start of its slot's
// name (slots are per cluster, so the slot's name ends with the
// database's oid).
const benchName = "walhook_bench"

// benchFlags are the options of `walhook bench`.
type benchFlags struct {
	table         string
	event         string
	objectCount   int
	concurrency   int
	measure       bool
	timeout       time.Duration
	warmup        int
	batches       int
	batchDelay    time.Duration
	rate          float64
	json          bool
	dsn           string
	targetURL     string
	batchSize     int
	txSize        int
	deliveryLog   string
	downEndpoint  bool
	failRate      float64
	repeat        int
	inProcessRecv bool
	progress      bool
	cpuProfile    string
	memProfile    string
	backlog       bool
}

func newBenchCmd(g *globalFlags) *cobra.Command {
	f := &benchFlags{}
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure walhook end to end: rows written, webhooks delivered, latency, CPU and memory",
		Long: `bench writes rows into a table, runs walhook in this process, delivers the
webhooks to a built-in receiver on loopback (in a process of its own, verifying
every signature) and reports send throughput, delivered events/s, commit-to-
receipt latency percentiles (the payload's occurred_at against the time of
receipt), success and failure rates, error categories, requests in flight, and
the CPU time and peak memory of the walhook process during the burst.

Without --dsn it starts a throwaway PostgreSQL cluster like 'walhook dev'.
With --dsn it uses that database: it creates the table (or empties one that an
earlier bench created; it refuses any other), and uses its own publication
and state schema named walhook_bench and a slot walhook_bench_<database oid>,
dropped again at the end.

It exits non-zero when events are still missing at --timeout.`,
		Example: `  walhook bench --object-count 100000 --tx-size 100
  walhook bench --object-count 100000 --tx-size 100 --batch-size 50
  walhook bench --rate 1000 --tx-size 1 --object-count 10000 --json
  walhook bench --event updated --object-count 20 --batches 5 --batch-delay 2s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flag("log-level").Changed && os.Getenv("WALHOOK_LOG_LEVEL") == "" {
				g.logLevel = "warn"
			}
			if !cmd.Flag("log-format").Changed && os.Getenv("WALHOOK_LOG_FORMAT") == "" {
				g.logFormat = "console"
			}
			return runBench(cmd.Context(), g, f, cmd.OutOrStdout())
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.table, "table", "public.walhook_bench", "table to write rows into (created if missing)")
	fl.StringVar(&f.event, "event", "created", "event to measure: created (inserts), updated (updates) or deleted (deletes)")
	fl.IntVar(&f.objectCount, "object-count", 10000, "rows written per batch")
	fl.IntVar(&f.concurrency, "concurrent-webhooks", 16, "webhook requests in flight per endpoint at most")
	fl.BoolVar(&f.measure, "measure-delivery", true, "wait for every webhook and measure delivery (false: measure writing only)")
	fl.DurationVar(&f.timeout, "timeout", 2*time.Minute, "how long to wait for the webhooks of one run")
	fl.IntVar(&f.warmup, "warmup", 0, "rows written and delivered before measuring; write --warmup=N (--warmup alone: 2000)")
	fl.Lookup("warmup").NoOptDefVal = "2000"
	fl.IntVar(&f.batches, "batches", 1, "number of batches of --object-count rows per run")
	fl.DurationVar(&f.batchDelay, "batch-delay", 0, "pause between batches")
	fl.Float64Var(&f.rate, "rate", 0, "pace writing at this many rows per second (0: as fast as possible)")
	fl.BoolVar(&f.json, "json", false, "print the report as JSON")
	fl.StringVar(&f.dsn, "dsn", "", "use this database instead of a throwaway cluster")
	fl.StringVar(&f.targetURL, "target-url", "", "deliver to a running 'walhook bench-receiver' at this URL instead of starting one (give both the same WALHOOK_BENCH_SECRET)")
	fl.IntVar(&f.batchSize, "batch-size", 1, "events per request at most (the subscriber's batch_size)")
	fl.IntVar(&f.txSize, "tx-size", 100, "rows per transaction")
	fl.StringVar(&f.deliveryLog, "delivery-log", "on", "write the delivery log: on, off, unlogged (logs.unlogged) or failures (logs.payloads: failures)")
	fl.BoolVar(&f.downEndpoint, "down-endpoint", false, "add a second subscriber whose endpoint refuses connections")
	fl.Float64Var(&f.failRate, "fail-rate", 0, "share of requests the built-in receiver answers 503, 0 to 1")
	fl.IntVar(&f.repeat, "repeat", 1, "measured runs; the report gives each and their median")
	fl.BoolVar(&f.inProcessRecv, "receiver-in-process", false, "run the built-in receiver in this process (its CPU then counts as walhook's)")
	fl.BoolVar(&f.progress, "progress", true, "draw a progress bar when stderr is a terminal")
	fl.BoolVar(&f.backlog, "backlog", false, "write each run's rows while walhook is stopped, then measure how fast it drains them")
	fl.StringVar(&f.memProfile, "memprofile", "", "write a heap profile at the end of the measured runs to this file")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured runs to this file (go tool pprof)")
	return c
}

// check validates the flags.
func (f *benchFlags) check() error {
	var bad []string
	if !strings.Contains(f.table, ".") {
		f.table = "public." + f.table
	}
	switch {
	case f.event != "created" && f.event != "updated" && f.event != "deleted":
		bad = append(bad, fmt.Sprintf("--event %q: write created, updated or deleted", f.event))
	case f.objectCount < 1 || f.batches < 1 || f.repeat < 1:
		bad = append(bad, "--object-count, --batches and --repeat must be at least 1")
	case f.concurrency < 1 || f.batchSize < 1 || f.txSize < 1:
		bad = append(bad, "--concurrent-webhooks, --batch-size and --tx-size must be at least 1")
	case f.warmup < 0 || f.rate < 0 || f.timeout <= 0 || f.batchDelay < 0:
		bad = append(bad, "--warmup, --rate and --batch-delay must not be negative, --timeout must be positive")
	case f.failRate < 0 || f.failRate >= 1:
		bad = append(bad, fmt.Sprintf("--fail-rate %g: write a share from 0 up to (not including) 1, e.g. 0.1", f.failRate))
	case !slices.Contains([]string{"on", "off", "unlogged", "failures"}, f.deliveryLog):
		bad = append(bad, fmt.Sprintf("--delivery-log %q: write on, off, unlogged or failures", f.deliveryLog))
	case f.targetURL != "" && f.failRate > 0:
		bad = append(bad, "--fail-rate applies to the built-in receiver: start the one at --target-url with 'walhook bench-receiver --fail-rate'")
	}
	if len(bad) > 0 {
		return usagef("%s", strings.Join(bad, "; "))
	}
	return nil
}

// rowsPerRun is how many rows one measured run writes.
func (f *benchFlags) rowsPerRun() int { return f.objectCount * f.batches }

// benchEnv is what a bench run works with.
type benchEnv struct {
	f        *benchFlags
	dsn      string
	conn     *pgx.Conn
	writer   *benchWriter
	sink     *benchSink
	secret   string
	rss      rssPeak
	progress *progressLine
	nextRow  int // first row (sequence number or id) not written yet
	pipe     *benchPipeline
	slot     string // walhook_bench_<database oid>
	// cpuAtStart is the CPU time when walhook last started streaming
	// (--backlog measures from there, start-up excluded).
	cpuAtStart time.Duration
}

func runBench(ctx context.Context, g *globalFlags, f *benchFlags, out io.Writer) error {
	if err := f.check(); err != nil {
		return err
	}
	lg, err := g.newLogging(os.Stderr)
	if err != nil {
		return err
	}
	rep, err := benchMeasure(ctx, f, lg)
	if rep == nil {
		return err
	}
	if f.json {
		if werr := rep.writeJSON(out); werr != nil {
			return werr
		}
	} else {
		rep.writeText(out)
	}
	if err != nil {
		return err
	}
	if rep.Median.Missing > 0 {
		return fmt.Errorf("%d of %d events did not arrive within --timeout %v", rep.Median.Missing, rep.Median.Expected, f.timeout)
	}
	return nil
}

// benchMeasure sets up the database and the receiver, runs walhook and
// measures; a report with an error means walhook stopped early.
func benchMeasure(ctx context.Context, f *benchFlags, lg *logging) (*benchReport, error) {
	secret := os.Getenv(benchSecretEnv) // shared with a receiver at --target-url
	if secret == "" {
		secret = deliver.GenerateSecret()
	}
	e := &benchEnv{f: f, secret: secret, nextRow: 1, progress: newProgressLine(os.Stderr, f.progress)}
	cleanup, err := e.openDatabase(ctx)
	defer cleanup()
	if err != nil {
		return nil, err
	}
	if err := e.startSink(ctx); err != nil {
		return nil, err
	}
	defer e.sink.Close()
	return e.measure(ctx, lg)
}

// openDatabase starts a throwaway cluster unless --dsn was given, connects
// the writer and prepares the table. The returned cleanup undoes it all
// and is safe to call after an error.
func (e *benchEnv) openDatabase(ctx context.Context) (cleanup func(), err error) {
	var undo []func()
	cleanup = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	e.dsn = e.f.dsn
	if e.dsn == "" {
		cluster, err := pgcluster.Start(ctx, pgcluster.Options{Settings: map[string]string{
			// Commit flushes WAL at once, as in production, so walsenders
			// are woken at commit; fsync stays off (no disk in the figure).
			"synchronous_commit": "on",
		}})
		if err != nil {
			return cleanup, fmt.Errorf("start a throwaway PostgreSQL for the bench (or give --dsn): %w", err)
		}
		undo = append(undo, cluster.Stop)
		e.dsn = cluster.DSN("postgres")
	}
	conn, err := pgx.Connect(ctx, e.dsn)
	if err != nil {
		return cleanup, fmt.Errorf("connect to the bench database: %w", err)
	}
	e.conn = conn
	undo = append(undo, func() { conn.Close(context.WithoutCancel(ctx)) })
	var dbOID uint32
	if err := conn.QueryRow(ctx, `SELECT oid FROM pg_database WHERE datname = current_database()`).Scan(&dbOID); err != nil {
		return cleanup, fmt.Errorf("look up the bench database: %w", err)
	}
	e.slot = fmt.Sprintf("%s_%d", benchName, dbOID)
	if err := dropBenchState(ctx, conn, e.slot); err != nil {
		return cleanup, err
	}
	undo = append(undo, func() { _ = dropBenchState(context.WithoutCancel(ctx), conn, e.slot) })
	if err := prepareBenchTable(ctx, conn, e.f.table); err != nil {
		return cleanup, err
	}
	e.writer = &benchWriter{conn: conn, table: quoteQualified(e.f.table), event: e.f.event, txSize: e.f.txSize}
	if e.f.event != "created" {
		seed := e.f.warmup + e.f.rowsPerRun()
		if e.f.event == "deleted" {
			seed = e.f.warmup + e.f.rowsPerRun()*e.f.repeat
		}
		if err := e.writer.seed(ctx, seed); err != nil {
			return cleanup, err
		}
	}
	return cleanup, nil
}

// dropBenchState removes bench's slot, publication and state schema, left
// from an earlier run or this one.
func dropBenchState(ctx context.Context, conn *pgx.Conn, slot string) error {
	stmts := []string{
		`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '` + slot + `' AND NOT active`,
		`DROP PUBLICATION IF EXISTS ` + benchName,
		`DROP SCHEMA IF EXISTS ` + benchName + ` CASCADE`,
	}
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("remove the state of an earlier bench (%s): %w", s, err)
		}
	}
	return nil
}

func (e *benchEnv) startSink(ctx context.Context) error {
	if e.f.targetURL != "" {
		e.sink = &benchSink{URL: strings.TrimRight(e.f.targetURL, "/"), client: &http.Client{Timeout: 30 * time.Second}}
		if _, err := e.sink.Count(ctx); err != nil {
			return usagef("--target-url %s does not answer like a bench receiver (start one with 'walhook bench-receiver'): %v", e.f.targetURL, err)
		}
		return nil
	}
	s, err := startBenchSink(ctx, e.secret, e.f.failRate, e.f.inProcessRecv)
	if err != nil {
		return err
	}
	e.sink = s
	return nil
}

// benchConfig is the walhook configuration of a bench run.
func (e *benchEnv) benchConfig() (*config.Config, error) {
	f := e.f
	subs := 1
	down := ""
	if f.downEndpoint {
		subs = 2
		port, err := closedPort()
		if err != nil {
			return nil, err
		}
		down = fmt.Sprintf(`
  - name: bench down
    description: an endpoint that refuses connections
    table: %[1]s
    target_url: http://127.0.0.1:%[2]d/webhooks
    secret: ${BENCH_SECRET}
    batch_size: %[3]d
    retry_delay: 1s
    max_retries: 100
    timeout: 5s
    auto_disable_after_failures: 0
    subscriptions:
      - event: %[4]s`, f.table, port, f.batchSize, f.event)
	}
	yaml := fmt.Sprintf(`
source:
  dsn: ${BENCH_DSN}
  slot: %[9]s
  publication: %[1]s
state:
  schema: %[1]s
admin:
  listen: 127.0.0.1:0
delivery:
  allow_networks: [127.0.0.0/8]
  concurrency: %[2]d
  per_endpoint_concurrency: %[3]d
  max_batch_size: %[4]d
subscribers:
  - name: bench
    description: the bench receiver
    table: %[5]s
    target_url: ${BENCH_URL}/webhooks
    secret: ${BENCH_SECRET}
    batch_size: %[6]d
    retry_delay: 100ms
    max_retries: 100
    timeout: 10s
    auto_disable_after_failures: 0
    subscriptions:
      - event: %[7]s%[8]s
`, benchName, f.concurrency*subs, f.concurrency, max(50, f.batchSize), f.table, f.batchSize, f.event, down, e.slot)
	env := map[string]string{"BENCH_DSN": e.dsn, "BENCH_URL": e.sink.URL, "BENCH_SECRET": e.secret}
	cfg, err := config.Parse("walhook-bench.yaml", []byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return nil, fmt.Errorf("bench configuration: %w", err)
	}
	switch f.deliveryLog {
	case "unlogged":
		cfg.Logs.Unlogged = true
	case "failures":
		cfg.Logs.Payloads = config.LogPayloadsFailures
	}
	return cfg, nil
}

// closedPort returns a loopback port nothing listens on.
func closedPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a closed port for --down-endpoint: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port, nil
}

// benchPipeline is walhook running in this process; bench restarts it
// to build a backlog.
type benchPipeline struct {
	cfg    *config.Config
	lg     *logging
	opts   pipelineOptions
	cancel context.CancelFunc
	done   chan error
}

// start runs walhook until stop or ctx ends.
func (p *benchPipeline) start(ctx context.Context) {
	pctx, cancel := context.WithCancel(ctx)
	p.cancel, p.done = cancel, make(chan error, 1)
	go func() { p.done <- runPipelineWith(pctx, p.cfg, p.lg, p.opts) }()
}

// stop stops walhook and waits for it, at most benchStopTimeout; it may be
// called when stopped.
func (p *benchPipeline) stop() error {
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	p.cancel = nil
	t := time.NewTimer(benchStopTimeout)
	defer t.Stop()
	select {
	case err := <-p.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("walhook: %w", err)
		}
		return nil
	case <-t.C:
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1) // what it is stuck on
		return fmt.Errorf("walhook did not stop within %v of being asked to (a shutdown that hangs is a bug: run with --log-level debug)", benchStopTimeout)
	}
}

// benchStopTimeout bounds walhook's shutdown in bench: its drain timeout
// and a margin.
const benchStopTimeout = drainTimeout + 50*time.Second

// measure runs walhook, writes the warm-up and the measured runs, and
// returns the report; a report with an error means walhook stopped early.
func (e *benchEnv) measure(ctx context.Context, lg *logging) (*benchReport, error) {
	cfg, err := e.benchConfig()
	if err != nil {
		return nil, err
	}
	e.pipe = &benchPipeline{cfg: cfg, lg: lg, opts: pipelineOptions{noDeliveryLog: e.f.deliveryLog == "off"}}
	rctx, stopRSS := context.WithCancel(ctx)
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		_ = e.rss.Run(rctx) // returns nil when rctx ends
	}()
	defer func() { stopRSS(); <-rssDone }()
	if err := e.startPipeline(ctx); err != nil {
		return nil, errors.Join(err, e.pipe.stop())
	}
	rep, err := e.runs(ctx)
	return rep, errors.Join(err, e.pipe.stop())
}

// startPipeline starts walhook and waits until it streams.
func (e *benchEnv) startPipeline(ctx context.Context) error {
	e.pipe.start(ctx)
	return e.waitStreaming(ctx)
}

// runs writes the warm-up and the measured runs.
func (e *benchEnv) runs(ctx context.Context) (*benchReport, error) {
	if e.f.warmup > 0 {
		r, err := e.burst(ctx, "warm-up", e.f.warmup, 0, 1)
		if err == nil && r.Missing > 0 {
			err = fmt.Errorf("%d of %d events did not arrive within --timeout %v", r.Missing, r.Expected, e.f.timeout)
		}
		if err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	stopProfile, err := startCPUProfile(e.f.cpuProfile)
	if err != nil {
		return nil, err
	}
	defer stopProfile()
	rep := &benchReport{Workload: e.workload()}
	for i := range e.f.repeat {
		if e.f.event == "updated" {
			e.nextRow = e.f.warmup + 1
		}
		r, err := e.burst(ctx, fmt.Sprintf("run %d/%d", i+1, e.f.repeat), e.f.objectCount, e.f.rate, e.f.batches)
		if err != nil {
			return nil, err
		}
		e.walhookErrors(ctx, &r, r.started)
		rep.Runs = append(rep.Runs, r)
	}
	stopProfile()
	if err := writeHeapProfile(e.f.memProfile); err != nil {
		return nil, err
	}
	rep.Median = medianRun(rep.Runs)
	return rep, nil
}

func (e *benchEnv) workload() benchWorkload {
	f := e.f
	recv := "process"
	switch {
	case f.targetURL != "":
		recv = "external"
	case f.inProcessRecv:
		recv = "in-process"
	}
	return benchWorkload{
		Table: f.table, Event: f.event, Rows: f.rowsPerRun(), TxSize: f.txSize, BatchSize: f.batchSize,
		Rate: f.rate, Concurrency: f.concurrency, DeliveryLog: f.deliveryLog != "off", DeliveryLogMode: f.deliveryLog,
		DownEndpoint: f.downEndpoint, Backlog: f.backlog, FailRate: f.failRate, Target: e.sink.URL, Receiver: recv,
		Repeat: f.repeat, GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
}

// waitStreaming waits until walhook streams from its slot.
func (e *benchEnv) waitStreaming(ctx context.Context) error {
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var active bool
		err := e.conn.QueryRow(ctx, `SELECT coalesce(bool_or(active), false) FROM pg_replication_slots WHERE slot_name = $1`, e.slot).Scan(&active)
		if err != nil {
			return fmt.Errorf("wait for walhook to stream: %w", err)
		}
		if active {
			e.cpuAtStart = cpuTime()
			return nil
		}
		select {
		case err := <-e.pipe.done:
			e.pipe.cancel() // it has exited: nothing left for stop to wait for
			e.pipe.cancel = nil
			return fmt.Errorf("walhook stopped before streaming: %w", err)
		case <-deadline.C:
			return errors.New("walhook did not start streaming within 60s (run with --log-level info to see why)")
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// burst writes batches of rows and waits for their webhooks, measuring.
// With --backlog (and not for the warm-up) walhook is stopped while the
// rows are written and the measurement starts when it streams again.
func (e *benchEnv) burst(ctx context.Context, label string, rows int, rate float64, batches int) (benchRun, error) {
	r := benchRun{Rows: rows * batches, Expected: int64(rows * batches)}
	backlog := e.f.backlog && label != "warm-up"
	if err := e.sink.Reset(ctx); err != nil {
		return r, err
	}
	if backlog {
		if err := e.pipe.stop(); err != nil {
			return r, err
		}
	}
	e.rss.reset()
	e.progress.restart()
	cpu0, t0 := cpuTime(), time.Now()
	r.started = t0
	if err := e.writeBatches(ctx, label, rows, rate, batches, r.Expected); err != nil {
		return r, err
	}
	r.WriteSeconds = time.Since(t0).Seconds()
	r.SendPerSec = float64(r.Rows) / max(r.WriteSeconds, 1e-9)
	if !e.f.measure {
		e.progress.clear()
		return r, nil
	}
	if backlog {
		if err := e.startPipeline(ctx); err != nil {
			return r, err
		}
		t0 = time.Now()
		e.rss.reset()
	}
	if backlog {
		cpu0 = e.cpuAtStart // walhook's start-up excluded, as from t0
	}
	err := e.waitDelivered(ctx, label, r.Expected)
	cpu := cpuTime() - cpu0
	e.progress.clear()
	if err != nil && !errors.Is(err, errBenchTimeout) {
		return r, err
	}
	return r, e.result(ctx, &r, t0, cpu)
}

// writeBatches writes batches of rows, pausing --batch-delay between them.
func (e *benchEnv) writeBatches(ctx context.Context, label string, rows int, rate float64, batches int, total int64) error {
	written := 0
	show := func(n int) {
		if n%1000 == 0 {
			e.progress.draw(label, int64(written+n), 0, total)
		}
	}
	for b := range batches {
		if b > 0 && e.f.batchDelay > 0 {
			if err := sleepCtx(ctx, e.f.batchDelay); err != nil {
				return err
			}
		}
		if err := e.writer.write(ctx, e.nextRow, e.nextRow+rows-1, rate, show); err != nil {
			return err
		}
		e.nextRow += rows
		written += rows
	}
	return nil
}

// result fills r from the receiver's statistics; t0 is when delivery
// could start and cpu the CPU time used since.
func (e *benchEnv) result(ctx context.Context, r *benchRun, t0 time.Time, cpu time.Duration) error {
	// Memory first: decoding the receiver's statistics (every event's
	// latency) is the bench's own work, not walhook's.
	r.PeakRSSMB = float64(e.rss.peak.Load()) / (1 << 20)
	r.RSSTimelineMB = e.rss.timelineMB()
	st, err := e.sink.Stats(ctx)
	if err != nil {
		return err
	}
	r.Delivered, r.Missing = st.Unique, max(r.Expected-st.Unique, 0)
	if !st.LastAt.IsZero() {
		r.DeliverSeconds = st.LastAt.Sub(t0).Seconds()
		r.DeliveredPerSec = float64(st.Unique) / max(r.DeliverSeconds, 1e-9)
	}
	r.fillLatencies(st.LatenciesUS)
	r.fillRequests(st)
	r.CPUSeconds = cpu.Seconds()
	if st.Unique > 0 {
		r.CPUSecondsPer100k = r.CPUSeconds / float64(st.Unique) * 100000
	}
	return nil
}

var errBenchTimeout = errors.New("timed out")

// waitDelivered waits until want distinct events arrived or --timeout.
func (e *benchEnv) waitDelivered(ctx context.Context, label string, want int64) error {
	deadline := time.NewTimer(e.f.timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		got, err := e.sink.Count(ctx)
		if err != nil {
			return err
		}
		if got >= want {
			return nil
		}
		if n%10 == 0 {
			e.progress.draw(label, want, got, want)
		}
		select {
		case <-deadline.C:
			return errBenchTimeout
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// walhookErrors adds walhook's own failures from the delivery log (when
// it is on) and the retry queue's size to r.
func (e *benchEnv) walhookErrors(ctx context.Context, r *benchRun, since time.Time) {
	_ = e.conn.QueryRow(ctx, `SELECT count(*) FROM `+benchName+`.retry_queue`).Scan(&r.Parked)
	rows, err := e.conn.Query(ctx, `SELECT s.name, coalesce(l.error_message, ''), coalesce(l.response_status, 0), count(*)
		FROM `+benchName+`.delivery_log l JOIN `+benchName+`.subscribers s ON s.id = l.subscriber_id
		WHERE l.created_at >= $1 AND (l.response_status IS NULL OR l.response_status NOT BETWEEN 200 AND 299)
		GROUP BY 1, 2, 3`, since)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var sub, msg string
		var status int
		var n int64
		if rows.Scan(&sub, &msg, &status, &n) == nil {
			r.addError("walhook "+sub+": "+errorCategory(msg, status), n)
		}
	}
}

// errorCategory folds an attempt's error into a short category.
func errorCategory(msg string, status int) string {
	low := strings.ToLower(msg)
	switch {
	case strings.Contains(low, "connection refused"):
		return "connection refused"
	case strings.Contains(low, "timeout") || strings.Contains(low, "deadline"):
		return "timeout"
	case strings.Contains(low, "reset by peer") || strings.Contains(low, "eof"):
		return "connection reset"
	case status >= 300:
		return fmt.Sprintf("HTTP %d", status)
	case len(msg) > 60:
		return msg[:60]
	case msg == "":
		return "unknown"
	}
	return msg
}

// startCPUProfile starts a CPU profile into path ("" for none); the
// returned stop may be called more than once.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, usagef("--cpuprofile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start CPU profile: %w", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}, nil
}

// writeHeapProfile writes the heap profile to path ("" for none).
func writeHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return usagef("--memprofile: %v", err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		return fmt.Errorf("write heap profile: %w", err)
	}
	return nil
}
