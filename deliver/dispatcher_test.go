package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// gauge tracks a current and a maximum value.
type gauge struct {
	mu       sync.Mutex
	cur, max int
}

func (g *gauge) add(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cur += n
	g.max = max(g.max, g.cur)
}

func (g *gauge) get() (cur, maxSeen int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur, g.max
}

func TestDispatcherConcurrencyLimits(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var total gauge
	handler := func(g *gauge) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.Header.Get("webhook-id"), "warm") {
				return
			}
			g.add(1)
			total.add(1)
			<-release
			total.add(-1)
			g.add(-1)
		}
	}
	var ga, gb gauge
	a, _ := newServer(t, handler(&ga))
	b, _ := newServer(t, handler(&gb))
	d, _ := runDispatcher(t, Options{PerEndpoint: 2, Concurrency: 3})
	settled := newSettleLog()
	epA, epB := &Endpoint{URL: a.URL}, &Endpoint{URL: b.URL}
	// A first success ends probe mode (one request at a time).
	submit(t, d, settled.track(eventTo(epA, "warmA", "")))
	submit(t, d, settled.track(eventTo(epB, "warmB", "")))
	waitFor(t, "warm-up delivered", func() bool { return settled.total.Load() == 2 })
	for i := range 10 {
		submit(t, d, settled.track(eventTo(epA, fmt.Sprint("a", i), "")))
		submit(t, d, settled.track(eventTo(epB, fmt.Sprint("b", i), "")))
	}
	waitFor(t, "3 requests in flight", func() bool { cur, _ := total.get(); return cur == 3 })
	close(release)
	waitFor(t, "all settled", func() bool { return settled.total.Load() == 22 })
	_, maxA := ga.get()
	_, maxB := gb.get()
	_, maxTotal := total.get()
	if maxA > 2 || maxB > 2 || maxTotal > 3 {
		t.Fatalf("max in flight: A %d, B %d, total %d; want ≤2, ≤2, ≤3", maxA, maxB, maxTotal)
	}
}

func TestDispatcherSlowEndpointDoesNotSlowOthers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	failing, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	var healthyGot atomic.Int64
	healthy, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { healthyGot.Add(1) })
	var parked parkLog
	const maxWait = time.Second
	d, _ := runDispatcher(t, Options{PerEndpoint: 2, QueueSize: 32, MaxWait: maxWait, OverflowWait: 100 * time.Millisecond, BreakAfter: -1, DrainTimeout: 50 * time.Millisecond, RetryQueue: parked.queue()})
	settled := newSettleLog()
	epSlow := &Endpoint{URL: slow.URL, SubscriptionID: 1, MaxRetries: 3}
	epFail := &Endpoint{URL: failing.URL, SubscriptionID: 2, MaxRetries: 3, RetryDelay: time.Minute}
	epOK := &Endpoint{URL: healthy.URL, SubscriptionID: 3}
	start := time.Now()
	for i := range 100 {
		submit(t, d, settled.track(eventTo(epSlow, fmt.Sprint("slow", i), fmt.Sprint("row", i))))
		if i < 20 {
			submit(t, d, settled.track(eventTo(epFail, fmt.Sprint("fail", i), "")))
			submit(t, d, settled.track(eventTo(epOK, fmt.Sprint("ok", i), "")))
		}
	}
	if el := time.Since(start); el > maxWait {
		t.Errorf("140 Submits took %s, want them not to wait for the slow endpoint", el)
	}
	waitFor(t, "healthy delivered", func() bool { return healthyGot.Load() == 20 })
	// All but the slow request in flight are settled: delivered or parked.
	// The slow endpoint never answered, so it is in probe mode: one
	// request at a time, the other lane's event parked after MaxWait.
	waitFor(t, "139 settled", func() bool { return settled.total.Load() == 139 })
	if el := time.Since(start); el > maxWait+2*time.Second {
		t.Errorf("settling took %s, want about MaxWait (%s)", el, maxWait)
	}
	reasons := map[string]int{}
	for _, p := range parked.snapshot() {
		switch {
		case strings.HasPrefix(p.Event.ID, "fail"):
			if p.Attempts != 1 || p.LastError != "http 503" || p.NextAttempt.Before(time.Now().Add(20*time.Second)) {
				t.Errorf("failed event parked as %+v, want 1 attempt, http 503, next attempt about a minute away", p)
			}
			reasons["failed"]++
		case p.Attempts == 0:
			reasons["slow"]++
		}
	}
	if reasons["failed"] != 20 || reasons["slow"] != 99 {
		t.Errorf("parked %v, want 20 failed and 99 slow", reasons)
	}
}

func TestDispatcherKeepsRowOrder(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string][]int{}
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if rand.IntN(4) == 0 {
			w.WriteHeader(503)
			return
		}
		key, seq, _ := strings.Cut(r.Header.Get("webhook-id"), "/")
		n, _ := strconv.Atoi(seq)
		mu.Lock()
		seen[key] = append(seen[key], n)
		mu.Unlock()
	})
	d, _ := runDispatcher(t, Options{PerEndpoint: 4, Concurrency: 8})
	ep := &Endpoint{URL: srv.URL, SubscriptionID: 1, MaxRetries: 100, RetryDelay: time.Millisecond}
	settled := newSettleLog()
	const keys, perKey = 10, 40
	var wg sync.WaitGroup
	for k := range keys {
		wg.Go(func() {
			for i := range perKey {
				key := fmt.Sprint("row", k)
				submit(t, d, settled.track(eventTo(ep, fmt.Sprintf("%s/%d", key, i), key)))
			}
		})
	}
	wg.Wait()
	waitFor(t, "all settled", func() bool { return settled.total.Load() == keys*perKey })
	mu.Lock()
	defer mu.Unlock()
	for k, got := range seen {
		for i, n := range got {
			if n != i {
				t.Fatalf("row %s received %v, want 0..%d in order", k, got, perKey-1)
			}
		}
	}
}

func TestDispatcherParksBehindParkedRow(t *testing.T) {
	t.Parallel()
	var got atomic.Int64
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("webhook-id"), "k1") {
			t.Errorf("event %s of a row with parked events was sent", r.Header.Get("webhook-id"))
		}
		got.Add(1)
	})
	var parked parkLog
	rq := parked.queue()
	rq.HasParkedFunc = func(sub int64, key string) bool { return sub == 7 && key == "k1" }
	d, _ := runDispatcher(t, Options{RetryQueue: rq})
	ep := &Endpoint{URL: srv.URL, SubscriptionID: 7}
	settled := newSettleLog()
	for i := range 5 {
		submit(t, d, settled.track(eventTo(ep, fmt.Sprint("k1/", i), "k1")))
		submit(t, d, settled.track(eventTo(ep, fmt.Sprint("k2/", i), "k2")))
	}
	waitFor(t, "all settled", func() bool { return settled.total.Load() == 10 })
	ps := parked.snapshot()
	if len(ps) != 5 || got.Load() != 5 {
		t.Fatalf("parked %d, sent %d; want 5 and 5", len(ps), got.Load())
	}
	for i, p := range ps {
		if p.Event.ID != fmt.Sprint("k1/", i) || p.Attempts != 0 {
			t.Errorf("parked[%d] = %s with %d attempts, want k1/%d unattempted, in order", i, p.Event.ID, p.Attempts, i)
		}
	}
}

// failFirst answers 503 (with retryAfter if set) to the first n requests.
func failFirst(n int64, retryAfter string) (http.HandlerFunc, *atomic.Int64) {
	var calls atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.WriteHeader(503)
		}
	}, &calls
}

// attemptLog is a Recorder that keeps the attempts.
type attemptLog struct {
	mu  sync.Mutex
	all []Attempt
}

func (l *attemptLog) Record(a Attempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, a)
}

func (l *attemptLog) snapshot() []Attempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Attempt(nil), l.all...)
}

func TestDispatcherRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		failures   int64
		maxRetries int
		retryAfter string
		wantOK     bool
		minGap     time.Duration
	}{
		{"then success", 2, 3, "", true, 0},
		{"exhausted", 1000, 2, "", false, 0},
		{"retry-after honoured", 1, 3, "1", true, 900 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, _ := failFirst(tt.failures, tt.retryAfter)
			srv, _ := newServer(t, h)
			var rec attemptLog
			d, _ := runDispatcher(t, Options{Recorder: &rec})
			settled := newSettleLog()
			ev := settled.track(eventTo(&Endpoint{URL: srv.URL, MaxRetries: tt.maxRetries, RetryDelay: time.Millisecond}, "evt_1", "row"))
			submit(t, d, ev)
			waitFor(t, "settled", func() bool { return settled.total.Load() == 1 })
			atts := rec.snapshot()
			wantN := min(int(tt.failures)+1, tt.maxRetries+1)
			if len(atts) != wantN {
				t.Fatalf("%d attempts recorded, want %d", len(atts), wantN)
			}
			for i, a := range atts {
				if a.Number != i+1 || a.Event != ev {
					t.Errorf("attempt %d has Number %d", i, a.Number)
				}
			}
			if last := atts[len(atts)-1]; last.Success() != tt.wantOK {
				t.Errorf("last attempt %+v, want success %v", last, tt.wantOK)
			}
			if gap := atts[1].At.Sub(atts[0].At); gap < tt.minGap {
				t.Errorf("second attempt %s after the first, want at least %s", gap, tt.minGap)
			}
		})
	}
}

func TestDispatcherPermanentFailureSettlesWithoutRetry(t *testing.T) {
	t.Parallel()
	srv, conns := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	var rec attemptLog
	var parked parkLog
	d, _ := runDispatcher(t, Options{Recorder: &rec, RetryQueue: parked.queue(), AllowNetworks: []string{}})
	settled := newSettleLog()
	submit(t, d, settled.track(eventTo(&Endpoint{URL: srv.URL, SubscriptionID: 1, MaxRetries: 5}, "evt_1", "")))
	waitFor(t, "settled", func() bool { return settled.total.Load() == 1 })
	atts := rec.snapshot()
	if len(atts) != 1 || !strings.HasPrefix(atts[0].Error, "policy: ") || conns.Load() != 0 || len(parked.snapshot()) != 0 {
		t.Fatalf("attempts %+v, conns %d, parked %d; want one policy refusal, no connection, nothing parked", atts, conns.Load(), len(parked.snapshot()))
	}
}

func TestDispatcherParkErrorsAreRetried(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	var calls atomic.Int64
	allow := make(chan struct{})
	rq := &fakeRetryQueue{ParkFunc: func(ctx context.Context, evs []Parked) error {
		calls.Add(1)
		select {
		case <-allow:
			return nil
		default:
			return errors.New("database is down")
		}
	}}
	d, _ := runDispatcher(t, Options{RetryQueue: rq})
	settled := newSettleLog()
	submit(t, d, settled.track(eventTo(&Endpoint{URL: srv.URL, SubscriptionID: 1, MaxRetries: 3}, "evt_1", "")))
	waitFor(t, "two Park calls", func() bool { return calls.Load() >= 2 })
	if n := settled.total.Load(); n != 0 {
		t.Fatalf("settled %d times while Park fails, want 0", n)
	}
	close(allow)
	waitFor(t, "settled", func() bool { return settled.total.Load() == 1 })
}

func TestDispatcherSubmitBlocksOnFullQueueWithoutRetryQueue(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var inflight atomic.Int64
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { inflight.Add(1); <-release })
	d, _ := runDispatcher(t, Options{PerEndpoint: 1, QueueSize: 1})
	settled := newSettleLog()
	ep := &Endpoint{URL: srv.URL}
	submit(t, d, settled.track(eventTo(ep, "evt_1", "")))
	waitFor(t, "first in flight", func() bool { return inflight.Load() == 1 })
	submit(t, d, settled.track(eventTo(ep, "evt_2", "")))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.Submit(ctx, eventTo(ep, "evt_3", "")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit on a full queue = %v, want it to block until its context ends", err)
	}
	close(release)
	waitFor(t, "settled", func() bool { return settled.total.Load() == 2 })
}

func TestDispatcherBatches(t *testing.T) {
	t.Parallel()
	secret := GenerateSecret()
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	var first atomic.Bool
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			<-release
		}
		body, _ := io.ReadAll(r.Body)
		if err := Verify([]string{secret}, r.Header, body, time.Minute); err != nil {
			t.Error(err)
		}
		n := 1
		if strings.HasPrefix(string(body), `{"type":"batch"`) {
			n = strings.Count(string(body), `"event":"created"`)
		}
		mu.Lock()
		sizes = append(sizes, n)
		mu.Unlock()
	})
	d, _ := runDispatcher(t, Options{PerEndpoint: 1})
	ep := &Endpoint{URL: srv.URL, Secrets: []string{secret}, BatchSize: 5}
	settled := newSettleLog()
	submit(t, d, settled.track(eventTo(ep, "evt_0", "")))
	waitFor(t, "first request", first.Load)
	for i := 1; i <= 12; i++ {
		submit(t, d, settled.track(eventTo(ep, fmt.Sprint("evt_", i), "")))
	}
	close(release)
	waitFor(t, "all settled", func() bool { return settled.total.Load() == 13 })
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(sizes) != "[1 5 5 2]" {
		t.Fatalf("request sizes %v, want [1 5 5 2]", sizes)
	}
}

func TestDispatcherSettlesExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, withQueue := range []bool{false, true} {
		t.Run(fmt.Sprint("retry_queue=", withQueue), func(t *testing.T) {
			t.Parallel()
			ok, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
			flaky, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if rand.IntN(3) == 0 {
					w.WriteHeader(503)
				}
			})
			bad, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
			o := Options{PerEndpoint: 4, Concurrency: 8, QueueSize: 16, MaxWait: 20 * time.Millisecond}
			var parkCalls atomic.Int64
			if withQueue {
				var parked parkLog
				rq := parked.queue()
				park := rq.ParkFunc
				rq.ParkFunc = func(ctx context.Context, evs []Parked) error {
					if parkCalls.Add(1)%50 == 1 {
						return errors.New("transient")
					}
					return park(ctx, evs)
				}
				o.RetryQueue = rq
			}
			d, stop := runDispatcher(t, o)
			settled := newSettleLog()
			eps := []*Endpoint{
				{URL: ok.URL, SubscriptionID: 1, BatchSize: 3},
				{URL: flaky.URL, SubscriptionID: 2, MaxRetries: 10, RetryDelay: time.Millisecond},
				{URL: bad.URL, SubscriptionID: 3, MaxRetries: 2, RetryDelay: time.Millisecond},
				{URL: flaky.URL, SubscriptionID: 4, MaxRetries: 10, RetryDelay: time.Millisecond, Unordered: true},
			}
			const n = 2000
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Go(func() {
					for i := w; i < n; i += 4 {
						ev := eventTo(eps[i%len(eps)], fmt.Sprint("evt_", i), fmt.Sprint("row", i%37))
						submit(t, d, settled.track(ev))
					}
				})
			}
			wg.Wait()
			waitFor(t, "all settled", func() bool { return settled.total.Load() == n })
			stop()
			for i := range n {
				if c := settled.times(fmt.Sprint("evt_", i)); c != 1 {
					t.Fatalf("evt_%d settled %d times, want 1", i, c)
				}
			}
		})
	}
}

func TestDispatcherDrainsInFlight(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var inflight atomic.Int64
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { inflight.Add(1); <-release })
	d, stop := runDispatcher(t, Options{})
	settled := newSettleLog()
	submit(t, d, settled.track(eventTo(&Endpoint{URL: srv.URL}, "evt_1", "")))
	waitFor(t, "in flight", func() bool { return inflight.Load() == 1 })
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	waitFor(t, "Submit refused", func() bool {
		return errors.Is(d.Submit(context.Background(), eventTo(&Endpoint{URL: srv.URL}, "evt_2", "")), ErrStopped)
	})
	close(release)
	<-stopped
	if settled.total.Load() != 1 {
		t.Fatal("the attempt in flight at shutdown was not allowed to finish")
	}
}

func TestDispatcherMetrics(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	reg := prometheus.NewRegistry()
	d, _ := runDispatcher(t, Options{Registerer: reg})
	settled := newSettleLog()
	submit(t, d, settled.track(eventTo(&Endpoint{URL: srv.URL}, "evt_1", "")))
	waitFor(t, "settled", func() bool { return settled.total.Load() == 1 })
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"walhook_deliver_requests_total", "walhook_deliver_request_duration_seconds",
		"walhook_deliver_inflight", "walhook_deliver_parked_total", "walhook_deliver_queue_depth", "walhook_deliver_settled_total"} {
		if !names[want] {
			t.Errorf("metric %s not registered", want)
		}
	}
	if _, err := NewDispatcher(Options{Registerer: reg}); err == nil {
		t.Error("registering twice on one registry succeeded, want an error")
	}
}

func TestDispatcherMaxWaitKeepsRowOrderBehindInFlight(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var inflight atomic.Int64
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		<-release
		w.WriteHeader(503)
	})
	var parked parkLog
	d, _ := runDispatcher(t, Options{PerEndpoint: 1, MaxWait: 250 * time.Millisecond, RetryQueue: parked.queue()})
	ep := &Endpoint{URL: srv.URL, SubscriptionID: 1, MaxRetries: 3}
	settled := newSettleLog()
	submit(t, d, settled.track(eventTo(ep, "a", "k")))
	waitFor(t, "a in flight", func() bool { return inflight.Load() == 1 })
	submit(t, d, settled.track(eventTo(ep, "b", "k")))
	submit(t, d, settled.track(eventTo(ep, "c", "j")))
	waitFor(t, "c parked after MaxWait", func() bool { return settled.times("c") == 1 })
	if settled.times("b") != 0 {
		t.Fatal("b was parked while an earlier event of its row was in flight")
	}
	close(release)
	waitFor(t, "all settled", func() bool { return settled.total.Load() == 3 })
	var order []string
	for _, p := range parked.snapshot() {
		order = append(order, p.Event.ID)
	}
	if fmt.Sprint(order) != "[c a b]" {
		t.Fatalf("parked in order %v, want [c a b]", order)
	}
}

func TestDispatcherParkHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	h, _ := failFirst(1, "600")
	srv, _ := newServer(t, h)
	var parked parkLog
	d, _ := runDispatcher(t, Options{RetryQueue: parked.queue()})
	settled := newSettleLog()
	submit(t, d, settled.track(eventTo(&Endpoint{URL: srv.URL, SubscriptionID: 1, MaxRetries: 3, RetryDelay: time.Second}, "evt_1", "")))
	waitFor(t, "settled", func() bool { return settled.total.Load() == 1 })
	ps := parked.snapshot()
	if len(ps) != 1 || ps[0].Attempts != 1 || ps[0].NextAttempt.Before(time.Now().Add(590*time.Second)) {
		t.Fatalf("parked %+v, want one event due in about 600s (Retry-After)", ps)
	}
}

func TestDispatcherRetriesUnpersistedSubscriptionsInMemory(t *testing.T) {
	t.Parallel()
	h, calls := failFirst(2, "")
	srv, _ := newServer(t, h)
	var parked parkLog
	d, _ := runDispatcher(t, Options{RetryQueue: parked.queue()})
	settled := newSettleLog()
	submit(t, d, settled.track(eventTo(&Endpoint{URL: srv.URL, MaxRetries: 3, RetryDelay: time.Millisecond}, "evt_1", "k")))
	waitFor(t, "settled", func() bool { return settled.total.Load() == 1 })
	if calls.Load() != 3 || len(parked.snapshot()) != 0 {
		t.Fatalf("%d requests, %d parked; want 3 requests (retried in memory), none parked", calls.Load(), len(parked.snapshot()))
	}
}

func TestDispatcherQueueFullKeepsRowOrder(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var inflight atomic.Int64
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		<-release
	})
	var parked parkLog
	d, _ := runDispatcher(t, Options{PerEndpoint: 1, QueueSize: 1, MaxWait: time.Second, OverflowWait: 10 * time.Millisecond, RetryQueue: parked.queue()})
	ep := &Endpoint{URL: srv.URL, SubscriptionID: 1}
	settled := newSettleLog()
	submit(t, d, settled.track(eventTo(ep, "a", "k")))
	waitFor(t, "a in flight", func() bool { return inflight.Load() == 1 })
	submit(t, d, settled.track(eventTo(ep, "b", "j"))) // fills the queue
	submit(t, d, settled.track(eventTo(ep, "c", "x"))) // queue full, no earlier event of its row: parked at once
	submit(t, d, settled.track(eventTo(ep, "d", "j"))) // queue full, b of its row queued: behind b
	submit(t, d, settled.track(eventTo(ep, "e", "k"))) // queue full, a of its row in flight: behind a
	waitFor(t, "c parked", func() bool { return settled.times("c") == 1 })
	waitFor(t, "b, d parked after MaxWait", func() bool { return settled.times("d") == 1 })
	if settled.times("e") != 0 {
		t.Fatal("e was parked while a, of its row, was in flight")
	}
	close(release)
	waitFor(t, "all settled", func() bool { return settled.total.Load() == 5 })
	var order []string
	for _, p := range parked.snapshot() {
		order = append(order, p.Event.ID)
	}
	if fmt.Sprint(order) != "[c b d e]" {
		t.Fatalf("parked in order %v, want [c b d e]", order)
	}
}

func TestDispatcherBreakerParksWithoutTrying(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(503)
	})
	var parked parkLog
	d, _ := runDispatcher(t, Options{PerEndpoint: 1, BreakAfter: 2, BreakFor: time.Minute, RetryQueue: parked.queue()})
	ep := &Endpoint{URL: srv.URL, SubscriptionID: 1, MaxRetries: 3, RetryDelay: time.Millisecond}
	settled := newSettleLog()
	for i := range 10 {
		submit(t, d, settled.track(eventTo(ep, fmt.Sprint("evt_", i), "")))
	}
	waitFor(t, "all settled", func() bool { return settled.total.Load() == 10 })
	if calls.Load() != 2 {
		t.Fatalf("%d requests, want 2 before the breaker opened", calls.Load())
	}
	soon := time.Now().Add(50 * time.Second)
	for i, p := range parked.snapshot() {
		switch {
		case p.Event.ID != fmt.Sprint("evt_", i):
			t.Errorf("parked[%d] = %s, want evt_%d (in order)", i, p.Event.ID, i)
		case i >= 2 && (p.Attempts != 0 || p.NextAttempt.Before(soon)):
			t.Errorf("parked[%d] = %+v, want untried and due when the breaker closes", i, p)
		}
	}
}

// counterValue reads a counter of reg with the given label value.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestDispatcherRecordsFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		outcome string
		check   func(Attempt) bool
	}{
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		}, "redirect", func(a Attempt) bool { return a.Error == "redirect not followed (http 302)" }},
		{"gone", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }, "http_error", Attempt.Gone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t, tt.handler)
			reg := prometheus.NewRegistry()
			var rec attemptLog
			d, _ := runDispatcher(t, Options{Registerer: reg, Recorder: &rec})
			settled := newSettleLog()
			submit(t, d, settled.track(eventTo(&Endpoint{URL: srv.URL, MaxRetries: 0}, "evt_1", "")))
			waitFor(t, "settled", func() bool { return settled.total.Load() == 1 })
			atts := rec.snapshot()
			if len(atts) != 1 || atts[0].Success() || !tt.check(atts[0]) {
				t.Fatalf("attempts %+v, want one failed %s", atts, tt.name)
			}
			if v := counterValue(t, reg, "walhook_deliver_requests_total", tt.outcome); v != 1 {
				t.Errorf("requests_total{outcome=%q} = %v, want 1", tt.outcome, v)
			}
			if v := counterValue(t, reg, "walhook_deliver_settled_total", "failed"); v != 1 {
				t.Errorf("settled_total{how=failed} = %v, want 1", v)
			}
		})
	}
}

func TestDispatcherBreakerProbesThenCloses(t *testing.T) {
	t.Parallel()
	h, calls := failFirst(1, "")
	srv, _ := newServer(t, h)
	var parked parkLog
	const breakFor = 100 * time.Millisecond
	d, _ := runDispatcher(t, Options{PerEndpoint: 1, BreakAfter: 1, BreakFor: breakFor, RetryQueue: parked.queue()})
	ep := &Endpoint{URL: srv.URL, SubscriptionID: 1, MaxRetries: 3}
	settled := newSettleLog()
	submit(t, d, settled.track(eventTo(ep, "e0", "")))
	waitFor(t, "e0 parked", func() bool { return settled.times("e0") == 1 })
	opened := time.Now()
	submit(t, d, settled.track(eventTo(ep, "e1", "")))
	waitFor(t, "e1 parked", func() bool { return settled.times("e1") == 1 })
	waitFor(t, "breaker time up", func() bool { return time.Since(opened) > breakFor })
	submit(t, d, settled.track(eventTo(ep, "e2", "")))
	submit(t, d, settled.track(eventTo(ep, "e3", "")))
	waitFor(t, "all settled", func() bool { return settled.total.Load() == 4 })
	ps := parked.snapshot()
	if calls.Load() != 3 || len(ps) != 2 || ps[1].Event.ID != "e1" || ps[1].Attempts != 0 {
		t.Fatalf("%d requests, parked %d; want e0 tried, e1 parked untried, e2 (the probe) and e3 delivered", calls.Load(), len(ps))
	}
}

func TestDispatcherSubmitDoesNotWaitForPark(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	parkRelease := make(chan struct{})
	var parkCalls atomic.Int64
	rq := &fakeRetryQueue{ParkFunc: func(ctx context.Context, _ []Parked) error {
		parkCalls.Add(1)
		select {
		case <-parkRelease:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	d, stop := runDispatcher(t, Options{PerEndpoint: 1, QueueSize: 2, RetryQueue: rq, DrainTimeout: 50 * time.Millisecond})
	ep := &Endpoint{URL: srv.URL, SubscriptionID: 1}
	settled := newSettleLog()
	for i := range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := d.Submit(ctx, settled.track(eventTo(ep, fmt.Sprint("evt_", i), ""))); err != nil {
			t.Fatalf("Submit %d while Park hangs: %v", i, err)
		}
		cancel()
	}
	waitFor(t, "a Park call", func() bool { return parkCalls.Load() >= 1 })
	if n := settled.total.Load(); n != 0 {
		t.Fatalf("%d settled while Park hangs, want 0", n)
	}
	close(parkRelease)
	waitFor(t, "parked", func() bool { return settled.total.Load() >= 97 })
	close(release)
	stop()
}

// TestDispatcherWaitsForRoomAtAHealthyEndpoint: a full queue at a healthy
// endpoint applies back-pressure (Submit waits for room) instead of
// parking; only when the room does not come within OverflowWait is the
// event parked, and the endpoint then parks at once until it drains.
func TestDispatcherWaitsForRoomAtAHealthyEndpoint(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var got atomic.Int64
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if got.Add(1) == 1 {
			<-release
		}
	})
	var parked parkLog
	d, _ := runDispatcher(t, Options{PerEndpoint: 1, QueueSize: 1, OverflowWait: time.Hour, RetryQueue: parked.queue()})
	ep := &Endpoint{URL: srv.URL, SubscriptionID: 1}
	settled := newSettleLog()
	submit(t, d, settled.track(eventTo(ep, "a", "k1")))
	waitFor(t, "a in flight", func() bool { return got.Load() == 1 })
	submit(t, d, settled.track(eventTo(ep, "b", "k2"))) // fills the queue
	done := make(chan struct{})
	go func() {
		submit(t, d, settled.track(eventTo(ep, "c", "k3"))) // waits for room
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("Submit did not wait for room at a healthy endpoint")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-done
	waitFor(t, "all delivered", func() bool { return settled.total.Load() == 3 })
	if n := len(parked.snapshot()); n != 0 {
		t.Fatalf("%d events parked, want none: the endpoint was only busy", n)
	}
}

// TestDispatcherBoundsPendingBytes: the bodies held in memory are bounded
// by MaxPendingBytes, whatever the number of events: with a hung endpoint
// and room for two 1,000-byte bodies, a third Submit waits until one
// settles; a body larger than the bound is let in alone.
func TestDispatcherBoundsPendingBytes(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	d, _ := runDispatcher(t, Options{PerEndpoint: 4, MaxPendingBytes: 2000})
	settled := newSettleLog()
	ep := &Endpoint{URL: srv.URL}
	big := func(id string, n int) *Event {
		ev := settled.track(eventTo(ep, id, ""))
		ev.Body = []byte(`"` + strings.Repeat("x", n-2) + `"`)
		return ev
	}
	submit(t, d, big("evt_1", 1000))
	submit(t, d, big("evt_2", 1000))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := d.Submit(ctx, big("evt_3", 1000)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit beyond MaxPendingBytes = %v, want it to wait until its context ends", err)
	}
	close(release) // the two settle, releasing their bytes
	submit(t, d, big("evt_4", 5000))
	waitFor(t, "settled", func() bool { return settled.total.Load() == 3 })
	submit(t, d, big("evt_5", 1000))
	waitFor(t, "settled", func() bool { return settled.total.Load() == 4 })
}
