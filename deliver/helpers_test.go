package deliver

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// loopback allows the httptest servers' address.
var loopback = []string{"127.0.0.0/8", "::1/128"}

// newServer starts an httptest server that calls h and counts the
// connections it accepted.
func newServer(t testing.TB, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func newClient(t testing.TB, o ClientOptions) *Client {
	t.Helper()
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// eventTo returns an event for ep with a JSON body.
func eventTo(ep *Endpoint, id, key string) *Event {
	return &Event{ID: id, Name: "created", Table: "public.users", Endpoint: ep, OrderKey: key,
		Body: []byte(`{"id":"` + id + `","event":"created"}`)}
}

// waitFor polls cond until it holds or 10s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling with a deadline, not synchronising
	}
}

// settleLog counts Settle calls per event.
type settleLog struct {
	mu    sync.Mutex
	count map[string]int
	total atomic.Int64
	done  chan string // receives each settled event id, if non-nil
}

func newSettleLog() *settleLog { return &settleLog{count: map[string]int{}} }

func (s *settleLog) track(ev *Event) *Event {
	ev.Settle = func() {
		s.mu.Lock()
		s.count[ev.ID]++
		s.mu.Unlock()
		s.total.Add(1)
	}
	return ev
}

func (s *settleLog) times(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[id]
}

// fakeRetryQueue is a RetryQueue with …Func fields.
type fakeRetryQueue struct {
	ParkFunc      func(ctx context.Context, events []Parked) error
	HasParkedFunc func(subscriptionID int64, orderKey string) bool
}

func (f *fakeRetryQueue) Park(ctx context.Context, events []Parked) error {
	if f.ParkFunc == nil {
		return nil
	}
	return f.ParkFunc(ctx, events)
}

func (f *fakeRetryQueue) HasParked(id int64, key string) bool {
	return f.HasParkedFunc != nil && f.HasParkedFunc(id, key)
}

// parkLog is a fakeRetryQueue that remembers what was parked.
type parkLog struct {
	mu     sync.Mutex
	parked []Parked
	rows   map[rowKey]bool
}

func (p *parkLog) queue() *fakeRetryQueue {
	p.rows = map[rowKey]bool{}
	return &fakeRetryQueue{
		ParkFunc: func(_ context.Context, evs []Parked) error {
			p.mu.Lock()
			defer p.mu.Unlock()
			for _, e := range evs {
				p.parked = append(p.parked, e)
				if e.Event.OrderKey != "" {
					p.rows[keyOf(e.Event)] = true
				}
			}
			return nil
		},
		HasParkedFunc: func(sub int64, key string) bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.rows[rowKey{sub, key}]
		},
	}
}

func (p *parkLog) snapshot() []Parked {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Parked(nil), p.parked...)
}

// runDispatcher builds a dispatcher and runs it; stop cancels Run and
// waits for it to return (it also runs when the test ends).
func runDispatcher(t *testing.T, o Options) (d *Dispatcher, stop func()) {
	t.Helper()
	if o.AllowNetworks == nil {
		o.AllowNetworks = loopback
	}
	o.Logger = zerolog.Nop()
	d, err := NewDispatcher(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("Run did not return after cancel")
			}
			d.client.CloseIdleConnections()
		})
	}
	t.Cleanup(stop)
	return d, stop
}

func submit(t *testing.T, d *Dispatcher, ev *Event) {
	t.Helper()
	if err := d.Submit(context.Background(), ev); err != nil {
		t.Errorf("Submit(%s): %v", ev.ID, err)
	}
}
