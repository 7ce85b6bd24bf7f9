package deliver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/semaphore"
)

// ErrStopped is returned by Submit once Run has returned or is draining.
var ErrStopped = errors.New("deliver: dispatcher stopped")

// Options configure a Dispatcher. Zero values take the defaults.
type Options struct {
	// Client sends the requests; when nil one is built from
	// AllowNetworks, MaxResponseBytes, PerEndpoint, Concurrency and
	// Version.
	Client *Client
	// Concurrency bounds requests in flight, all endpoints together
	// (default 64).
	Concurrency int
	// PerEndpoint bounds requests in flight to one endpoint URL; it is
	// also the number of ordered lanes per endpoint (default 16).
	PerEndpoint int
	// QueueSize bounds the events waiting in memory per endpoint (default
	// 1024); with a RetryQueue, events beyond it are parked at once
	// instead (see Submit).
	QueueSize int
	// MaxPending bounds the events held in memory overall, waiting or in
	// flight (default 65536); Submit blocks when it is reached.
	MaxPending int
	// MaxPendingBytes bounds the bodies of those events, in bytes
	// (default 32 MiB), so that memory stays bounded whatever the size of
	// the rows; Submit blocks when it is reached. A body larger than the
	// bound counts as the bound (it is let in alone).
	MaxPendingBytes int64
	// MaxWait bounds how long an event may wait in memory before it is
	// parked in RetryQueue (default 5s). Unused without RetryQueue.
	MaxWait time.Duration
	// BreakAfter is how many consecutive failed attempts to one endpoint
	// URL open its breaker (default 5; negative: never): while it is open
	// the endpoint's events are parked without being tried, for BreakFor
	// (default 30s), and scheduled for when it closes. Then one attempt
	// probes: a success closes the breaker, a failure opens it again, and
	// the other events keep parking meanwhile. Only with a RetryQueue.
	BreakAfter int
	BreakFor   time.Duration
	// OverflowWait is how long Submit waits for room in a healthy
	// endpoint's full queue, without any delivery completing, before it
	// parks the event instead (default 1s); while deliveries complete it
	// waits on, up to MaxWait. A healthy endpoint that is merely busy
	// frees room within milliseconds, and waiting (back-pressure on the
	// stream) is far cheaper than a round trip through the retry queue. An
	// endpoint whose last attempt failed, or that overflowed once and has
	// not drained to half its queue since, parks at once, so a slow
	// endpoint delays the stream by at most MaxWait per episode.
	OverflowWait time.Duration
	// DrainTimeout bounds how long Run lets in-flight attempts finish
	// after its context is canceled (default 10s).
	DrainTimeout time.Duration
	// MaxResponseBytes, AllowNetworks, UseEnvProxy and Version build the
	// Client when Client is nil (see ClientOptions).
	MaxResponseBytes int
	AllowNetworks    []string
	UseEnvProxy      bool
	Version          string
	// Recorder receives every attempt (may be nil).
	Recorder Recorder
	// RetryQueue parks events durably (may be nil: then failed attempts
	// are retried in memory and Submit blocks on a full endpoint queue).
	RetryQueue RetryQueue
	// Logger is the dispatcher's logger, already naming its component
	// (the caller's per-component logger). Messages are constant; no
	// secret or payload is logged.
	Logger zerolog.Logger
	// Registerer receives the dispatcher's collectors (may be nil).
	Registerer prometheus.Registerer
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Concurrency, 64)
	def(&o.PerEndpoint, 16)
	def(&o.QueueSize, 1024)
	def(&o.MaxPending, 65536)
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = 32 << 20
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 5 * time.Second
	}
	if o.OverflowWait <= 0 {
		o.OverflowWait = time.Second
	}
	if o.BreakAfter == 0 {
		o.BreakAfter = 5
	}
	if o.BreakFor <= 0 {
		o.BreakFor = 30 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 10 * time.Second
	}
	return o
}

// Dispatcher delivers submitted events: per-endpoint ordered lanes, a
// global concurrency bound, retries in memory or parking in the durable
// RetryQueue, and every attempt recorded. See the package documentation
// for the settle contract. Its goroutines run only inside Run.
type Dispatcher struct {
	o       Options
	client  *Client
	rec     Recorder
	rq      RetryQueue
	hq      HoldQueue // rq, when it can hold events
	held    heldCount // held events waiting in lanes
	log     zerolog.Logger
	m       *metrics
	sem     chan struct{}       // requests in flight
	pending chan struct{}       // events in memory
	bytes   *semaphore.Weighted // their bodies (MaxPendingBytes)
	queued  atomic.Int64

	started chan struct{} // closed when Run starts
	stop    chan struct{} // closed when Run's context ends
	kick    chan struct{} // asks for a sweep now
	reqCtx  context.Context
	cancel  context.CancelFunc

	endpoints sync.Map   // URL → *endpoint
	mu        sync.Mutex // guards closed and wg.Add
	closed    bool
	wg        sync.WaitGroup
	runOnce   atomic.Bool
}

// NewDispatcher checks o and builds a Dispatcher; it starts nothing. It
// fails on a bad AllowNetworks entry or when the metrics cannot be
// registered.
func NewDispatcher(o Options) (*Dispatcher, error) {
	o = o.withDefaults()
	client := o.Client
	if client == nil {
		var err error
		client, err = NewClient(ClientOptions{
			AllowNetworks:    o.AllowNetworks,
			MaxResponseBytes: o.MaxResponseBytes,
			MaxConnsPerHost:  o.PerEndpoint,
			MaxIdleConns:     o.Concurrency,
			UseEnvProxy:      o.UseEnvProxy,
			Version:          o.Version,
		})
		if err != nil {
			return nil, fmt.Errorf("new dispatcher: %w", err)
		}
	}
	d := &Dispatcher{
		o:       o,
		client:  client,
		rec:     o.Recorder,
		rq:      o.RetryQueue,
		log:     o.Logger,
		sem:     make(chan struct{}, o.Concurrency),
		pending: make(chan struct{}, o.MaxPending),
		bytes:   semaphore.NewWeighted(o.MaxPendingBytes),
		started: make(chan struct{}),
		stop:    make(chan struct{}),
		kick:    make(chan struct{}, 1),
	}
	if d.rec == nil {
		d.rec = RecorderFunc(func(Attempt) {})
	}
	d.hq, _ = o.RetryQueue.(HoldQueue)
	d.m = newMetrics(func() float64 { return float64(d.queued.Load()) })
	if err := d.m.register(o.Registerer); err != nil {
		return nil, err
	}
	return d, nil
}

// Client returns the client the dispatcher sends with, to share its
// keep-alive connections and network policy (e.g. with the retry queue's
// worker).
func (d *Dispatcher) Client() *Client { return d.client }

// Run delivers events until ctx ends, then stops taking events, lets
// in-flight attempts (and the parking of their failures) finish within
// DrainTimeout, cancels what is left and returns nil. Events still queued
// when it returns are not settled: they will be redelivered after a
// restart. Run may be called once; a second call returns an error.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.runOnce.CompareAndSwap(false, true) {
		return errors.New("run dispatcher: already running or ran")
	}
	d.reqCtx, d.cancel = context.WithCancel(context.WithoutCancel(ctx))
	defer d.cancel()
	close(d.started)
	d.log.Info().Int("concurrency", d.o.Concurrency).Int("per_endpoint", d.o.PerEndpoint).
		Bool("retry_queue", d.rq != nil).Msg("dispatcher started")
	d.sweep(ctx)
	d.drain()
	return nil
}

// sweep parks events that waited longer than MaxWait, or were queued
// beyond the bound, until ctx ends.
func (d *Dispatcher) sweep(ctx context.Context) {
	if d.rq == nil {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(max(d.o.MaxWait/4, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d.sweepOnce(now)
		case <-d.kick:
			d.sweepOnce(time.Now())
		}
	}
}

// sweepOnce starts parking, on every lane, what waited since before
// now-MaxWait or is queued beyond the bound.
func (d *Dispatcher) sweepOnce(now time.Time) {
	cutoff := now.Add(-d.o.MaxWait)
	for _, ep := range d.endpointList() {
		ep.expire(cutoff)
	}
}

// drain stops new work and waits for the goroutines, cancelling requests
// after DrainTimeout.
func (d *Dispatcher) drain() {
	d.mu.Lock()
	d.closed = true
	close(d.stop)
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	t := time.NewTimer(d.o.DrainTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		d.log.Warn().Dur("drain_timeout", d.o.DrainTimeout).Msg("drain timed out, cancelling requests in flight")
		d.cancel()
		<-done
	}
	d.log.Info().Int64("unsettled_queued", d.queued.Load()).Msg("dispatcher stopped")
}

// Submit hands ev to the dispatcher; ev.Settle is called once it is
// settled. It waits for Run to start. Without RetryQueue (or for an
// Endpoint with SubscriptionID 0, which cannot be parked) it blocks while
// the endpoint's queue is full. With one it never waits for the endpoint:
// when the queue is full ev is queued beyond the bound and parked by the
// sweeper at once (in batches, in the sweeper's goroutines), after the
// earlier events of its row; it blocks only on MaxPending. It returns
// ctx's error if ctx ends while it waits or ErrStopped when the
// dispatcher stopped; ev was then not taken and will not be settled.
func (d *Dispatcher) Submit(ctx context.Context, ev *Event) error {
	if ev == nil || ev.Endpoint == nil {
		return errors.New("submit event: no event or no endpoint")
	}
	select {
	case <-d.started:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := d.acquire(ctx, ev); err != nil {
		return err
	}
	err := d.enqueue(ctx, ev)
	if err != nil {
		d.release(ev)
	}
	return err
}

// acquire takes ev's MaxPending slot and its share of MaxPendingBytes,
// waiting for them; it returns ctx's error or ErrStopped (and holds
// nothing) when ctx ends or the dispatcher stops first.
func (d *Dispatcher) acquire(ctx context.Context, ev *Event) error {
	select {
	case d.pending <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.stop:
		return ErrStopped
	}
	ev.weight = min(max(int64(len(ev.Body)), 1), d.o.MaxPendingBytes)
	if d.bytes.TryAcquire(ev.weight) {
		return nil
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-d.stop:
			cancel()
		case <-wctx.Done():
		}
	}()
	if err := d.bytes.Acquire(wctx, ev.weight); err != nil {
		<-d.pending
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return ErrStopped
	}
	return nil
}

// release gives back what acquire took for ev.
func (d *Dispatcher) release(ev *Event) {
	d.bytes.Release(ev.weight)
	<-d.pending
}

// enqueue puts ev on its endpoint's lane, beyond the bound when the queue
// is full and ev can be parked.
func (d *Dispatcher) enqueue(ctx context.Context, ev *Event) error {
	if d.stopping() {
		return ErrStopped
	}
	ep := d.endpointFor(ev.Endpoint.URL)
	l := ep.laneFor(ev)
	it := item{ev: ev, at: time.Now()}
	if !d.durable(ev.Endpoint) {
		select {
		case ep.room <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-d.stop:
			return ErrStopped
		}
	} else {
		select {
		case ep.room <- struct{}{}:
			if ep.congested.Load() && len(ep.room) <= cap(ep.room)/2 {
				ep.congested.Store(false)
			}
		default:
			ok, err := d.waitRoom(ctx, ep)
			if err != nil {
				return err
			}
			if !ok {
				l.pushOver(it)
				d.kickSweep()
				return nil
			}
		}
	}
	l.push(it)
	return nil
}

// waitRoom waits for a room token of a healthy, uncongested endpoint whose
// queue is full: up to OverflowWait, and on while the endpoint keeps
// delivering (it is busy, not stuck), but never longer than MaxWait in
// all. It reports whether it got a token; when it did not, the endpoint is
// congested until its queue drains to half. It returns an error only when
// ctx ends or the dispatcher stops.
func (d *Dispatcher) waitRoom(ctx context.Context, ep *endpoint) (bool, error) {
	if ep.congested.Load() || ep.fails.Load() > 0 || ep.openUntil.Load() != 0 {
		return false, nil
	}
	deadline := time.Now().Add(d.o.MaxWait)
	t := time.NewTimer(min(d.o.OverflowWait, d.o.MaxWait))
	defer t.Stop()
	for {
		before := ep.delivered.Load()
		select {
		case ep.room <- struct{}{}:
			return true, nil
		case <-t.C:
			if ep.delivered.Load() == before || ep.fails.Load() > 0 || !time.Now().Before(deadline) {
				ep.congested.Store(true)
				return false, nil
			}
			t.Reset(min(d.o.OverflowWait, time.Until(deadline)))
		case <-ctx.Done():
			return false, ctx.Err()
		case <-d.stop:
			return false, ErrStopped
		}
	}
}

// kickSweep asks the sweeper for a sweep now.
func (d *Dispatcher) kickSweep() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// durable reports whether events of ep can be parked: there is a
// RetryQueue and the subscription is persisted (SubscriptionID != 0).
// Other events are retried in memory.
func (d *Dispatcher) durable(ep *Endpoint) bool {
	return d.rq != nil && ep.SubscriptionID != 0
}

// endpointFor returns the endpoint state for url, creating it.
func (d *Dispatcher) endpointFor(url string) *endpoint {
	if ep, ok := d.endpoints.Load(url); ok {
		return ep.(*endpoint)
	}
	ep, _ := d.endpoints.LoadOrStore(url, newEndpoint(d, d.o.PerEndpoint, d.o.QueueSize))
	return ep.(*endpoint)
}

// endpointList snapshots the endpoints.
func (d *Dispatcher) endpointList() []*endpoint {
	var out []*endpoint
	d.endpoints.Range(func(_, ep any) bool {
		out = append(out, ep.(*endpoint))
		return true
	})
	return out
}

// spawn runs f in a goroutine Run waits for; false once Run is draining.
func (d *Dispatcher) spawn(f func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
	return true
}

// stopping reports whether Run's context ended.
func (d *Dispatcher) stopping() bool {
	select {
	case <-d.stop:
		return true
	default:
		return false
	}
}

// settle calls ev.Settle and releases its MaxPending slot and bytes. Every path
// that settles goes through here, once per event.
func (d *Dispatcher) settle(ev *Event, how string) {
	d.release(ev)
	d.m.settled[how].Inc()
	if ev.Settle != nil {
		ev.Settle()
	}
}
