package deliver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// callLog is a HoldQueue that logs its calls in order ("park:a,b",
// "hold:c", "release") and reports the rows it parked or held.
type callLog struct {
	mu    sync.Mutex
	calls []string
	rows  map[rowKey]bool
	// suspended, when set, makes HasParked report every row (the empty
	// key too) of the subscription: it is auto-disabled.
	suspended func(sub int64) bool
}

func (c *callLog) add(what string, evs []Parked) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for _, p := range evs {
		ids = append(ids, p.Event.ID)
		if c.rows == nil {
			c.rows = map[rowKey]bool{}
		}
		if p.Event.OrderKey != "" {
			c.rows[keyOf(p.Event)] = true
		}
	}
	c.calls = append(c.calls, what+":"+strings.Join(ids, ","))
}

func (c *callLog) Park(_ context.Context, evs []Parked) error { c.add("park", evs); return nil }

func (c *callLog) Hold(_ context.Context, evs []Parked) error {
	for _, p := range evs {
		if p.NextAttempt.Year() < 9999 {
			return fmt.Errorf("held event %s due at %s, want never", p.Event.ID, p.NextAttempt)
		}
	}
	c.add("hold", evs)
	return nil
}

func (c *callLog) ReleaseHeld(context.Context) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, "release")
	return 0, nil
}

func (c *callLog) HasParked(sub int64, key string) bool {
	if c.suspended != nil && c.suspended(sub) {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rows[rowKey{sub, key}]
}

func (c *callLog) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.calls, " ")
}

// blockRow answers requests of events whose id starts with prefix only
// once release is closed, with status; others get 200 at once. It counts
// the blocked requests that arrived.
func blockRow(prefix string, status int, release <-chan struct{}) (http.HandlerFunc, *atomic.Int64) {
	var arrived atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("webhook-id"), prefix) {
			return
		}
		arrived.Add(1)
		_, _ = io.Copy(io.Discard, r.Body) // so that a client gone cancels r's context
		select {
		case <-release:
			w.WriteHeader(status)
		case <-r.Context().Done():
		}
	}, &arrived
}

// releaser returns a channel and a func that closes it once; the test's
// end closes it too, so that no handler stays blocked.
func releaser(t *testing.T) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	return ch, release
}

// hold calls d.Hold with events, failing the test on an error.
func hold(t *testing.T, d *Dispatcher, evs ...*Event) {
	t.Helper()
	ps := make([]Parked, len(evs))
	for i, ev := range evs {
		ps[i] = Parked{Event: ev}
	}
	if err := d.Hold(context.Background(), ps); err != nil {
		t.Fatalf("Hold: %v", err)
	}
}

// releaseAsync runs ReleaseHeld in a goroutine; the channel gets its
// error.
func releaseAsync(d *Dispatcher) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := d.ReleaseHeld(context.Background())
		done <- err
	}()
	return done
}

// TestDispatcherHoldKeepsRowOrder: an event held while an earlier event
// of its row is still in the dispatcher (in flight, then parked after a
// failure or delivered) is held only after that event is parked or
// delivered, and ReleaseHeld waits for it; an event whose row has nothing
// in memory is held at once, before Hold returns.
func TestDispatcherHoldKeepsRowOrder(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		status int
		want   string
	}{
		{"earlier event fails", 503, "hold:j park:p hold:h release"},
		{"earlier event delivered", 200, "hold:j hold:h release"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			release, open := releaser(t)
			h, arrived := blockRow("p", tt.status, release)
			srv, _ := newServer(t, h)
			var q callLog
			d, _ := runDispatcher(t, Options{RetryQueue: &q, BreakAfter: -1})
			ep := &Endpoint{URL: srv.URL, SubscriptionID: 1, MaxRetries: 3}
			settled := newSettleLog()
			submit(t, d, settled.track(eventTo(ep, "p", "k")))
			waitFor(t, "p in flight", func() bool { return arrived.Load() == 1 })

			hold(t, d, settled.track(eventTo(ep, "h", "k")), settled.track(eventTo(ep, "j", "j")))
			if settled.times("j") != 1 || settled.times("h") != 0 || q.log() != "hold:j" {
				t.Fatalf("after Hold: calls %q, j settled %d, h settled %d; want j held and settled at once, h waiting behind p",
					q.log(), settled.times("j"), settled.times("h"))
			}
			released := releaseAsync(d)
			select {
			case err := <-released:
				t.Fatalf("ReleaseHeld returned (%v) while h waited behind p", err)
			case <-time.After(50 * time.Millisecond):
			}
			open()
			if err := <-released; err != nil {
				t.Fatalf("ReleaseHeld: %v", err)
			}
			if got := q.log(); got != tt.want {
				t.Fatalf("calls %q, want %q", got, tt.want)
			}
			for _, id := range []string{"p", "h", "j"} {
				if n := settled.times(id); n != 1 {
					t.Errorf("%s settled %d times, want 1", id, n)
				}
			}
		})
	}
}

// TestDispatcherHoldBehindQueuedEvent: the earlier event of the row is
// still queued (behind another row's request in flight) and is parked by
// MaxWait: the held event follows it into the retry queue, in one sweep,
// and ReleaseHeld does not wait for the unrelated request in flight.
func TestDispatcherHoldBehindQueuedEvent(t *testing.T) {
	t.Parallel()
	release, _ := releaser(t)
	h, arrived := blockRow("x", 200, release)
	srv, _ := newServer(t, h)
	var q callLog
	d, _ := runDispatcher(t, Options{RetryQueue: &q, PerEndpoint: 1, MaxWait: 200 * time.Millisecond, DrainTimeout: 50 * time.Millisecond})
	ep := &Endpoint{URL: srv.URL, SubscriptionID: 1, MaxRetries: 3}
	settled := newSettleLog()
	submit(t, d, settled.track(eventTo(ep, "x", "x")))
	waitFor(t, "x in flight", func() bool { return arrived.Load() == 1 })
	submit(t, d, settled.track(eventTo(ep, "p", "k")))
	hold(t, d, settled.track(eventTo(ep, "h", "k")))
	if q.log() != "" {
		t.Fatalf("calls %q before p was parked, want none", q.log())
	}
	if _, err := d.ReleaseHeld(context.Background()); err != nil {
		t.Fatalf("ReleaseHeld: %v", err)
	}
	if got, want := q.log(), "park:p hold:h release"; got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}
}

// TestDispatcherHoldRefusesWhatItCannotHold: without a HoldQueue, or for
// an unpersisted subscription, Hold takes nothing.
func TestDispatcherHoldRefusesWhatItCannotHold(t *testing.T) {
	t.Parallel()
	var parked parkLog
	plain, _ := runDispatcher(t, Options{RetryQueue: parked.queue()})
	var q callLog
	holding, _ := runDispatcher(t, Options{RetryQueue: &q})
	for _, c := range []struct {
		d  *Dispatcher
		ep *Endpoint
	}{
		{plain, &Endpoint{URL: "http://127.0.0.1:1", SubscriptionID: 1}},
		{holding, &Endpoint{URL: "http://127.0.0.1:1"}},
	} {
		err := c.d.Hold(context.Background(), []Parked{{Event: eventTo(c.ep, "e", "k")}})
		if err == nil || !strings.Contains(err.Error(), "can be held") {
			t.Errorf("Hold = %v, want a refusal", err)
		}
	}
	if q.log() != "" {
		t.Errorf("calls %q, want none", q.log())
	}
}

// TestDispatcherProbeModeExactAutoDisable: an endpoint that fails gets
// one request at a time, and a subscription suspended by the Recorder at
// the third failure gets no fourth request: the rest is parked unsent.
func TestDispatcherProbeModeExactAutoDisable(t *testing.T) {
	t.Parallel()
	var inflight gauge
	var calls atomic.Int64
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		inflight.add(1)
		defer inflight.add(-1)
		calls.Add(1)
		time.Sleep(5 * time.Millisecond) // give concurrent requests a chance to overlap
		w.WriteHeader(503)
	})
	var failures atomic.Int64
	rec := RecorderFunc(func(a Attempt) {
		if !a.Success() {
			failures.Add(1)
		}
	})
	q := &callLog{suspended: func(int64) bool { return failures.Load() >= 3 }}
	d, _ := runDispatcher(t, Options{RetryQueue: q, Recorder: rec, PerEndpoint: 8, BreakAfter: -1})
	ep := &Endpoint{URL: srv.URL, SubscriptionID: 1, MaxRetries: 3}
	settled := newSettleLog()
	for i := range 20 {
		submit(t, d, settled.track(eventTo(ep, fmt.Sprint("e", i), fmt.Sprint("row", i))))
	}
	waitFor(t, "all settled", func() bool { return settled.total.Load() == 20 })
	if _, most := inflight.get(); most != 1 || calls.Load() != 3 {
		t.Fatalf("%d requests, at most %d at once; want 3, one at a time", calls.Load(), most)
	}
}

// TestDispatcherEnterSharesProbeMode: a caller outside the dispatcher
// (the retry worker) waits for the endpoint's probe in flight; once a
// request succeeded, it enters at once.
func TestDispatcherEnterSharesProbeMode(t *testing.T) {
	t.Parallel()
	release, open := releaser(t)
	h, arrived := blockRow("p", 200, release)
	srv, _ := newServer(t, h)
	var q callLog
	d, _ := runDispatcher(t, Options{RetryQueue: &q})
	ep := &Endpoint{URL: srv.URL, SubscriptionID: 1}
	settled := newSettleLog()
	submit(t, d, settled.track(eventTo(ep, "p", "k")))
	waitFor(t, "p in flight", func() bool { return arrived.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := d.Enter(ctx, ep); err == nil {
		t.Fatal("Enter admitted a second request while the probe was in flight")
	}
	open()
	waitFor(t, "p delivered", func() bool { return settled.total.Load() == 1 })
	leave, err := d.Enter(context.Background(), ep)
	if err != nil {
		t.Fatalf("Enter after a success: %v", err)
	}
	leave2, err := d.Enter(context.Background(), ep)
	if err != nil {
		t.Fatalf("second Enter after a success: %v", err)
	}
	leave(&Attempt{Status: 503})
	leave2(nil)
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	leave, err = d.Enter(ctx, ep)
	if err != nil {
		t.Fatalf("Enter of the probe after a failure: %v", err)
	}
	if _, err := d.Enter(ctx, ep); err == nil {
		t.Fatal("Enter admitted two requests at once after a failure")
	}
	leave(nil)
}
