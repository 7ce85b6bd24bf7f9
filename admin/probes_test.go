package admin_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/admin"
)

func TestReadyz(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		health admin.Health
		code   int
		want   string
	}{
		{"ready", &fakeHealth{ReadyFunc: func(context.Context) error { return nil }}, 200, `"status": "ready"`},
		{"not ready", &fakeHealth{ReadyFunc: func(context.Context) error {
			return errors.New("replication not connected: slot walhook is held by pid 4242")
		}}, 503, "slot walhook is held by pid 4242"},
		{"deadline passed to check", &fakeHealth{ReadyFunc: func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("no deadline")
			}
			return nil
		}}, 200, "ready"},
		{"not wired", nil, 503, "Health is not available"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := admin.Options{Listen: "127.0.0.1:8089", Token: testToken}
			if tt.health != nil {
				o.Health = tt.health
			}
			h := newHandler(t, o)
			w := call{path: "/readyz"}.do(t, h)
			wantStatus(t, w, tt.code)
			wantBody(t, w, tt.want)
			wantStatus(t, call{path: "/healthz"}.do(t, h), 200)
		})
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "walhook_test_events_total", Help: "Test events."})
	reg.MustRegister(c)
	c.Add(3)
	o := fullOptions()
	o.Token, o.Gatherer = testToken, reg
	h := newHandler(t, o)
	w := call{path: "/metrics", token: testToken}.do(t, h)
	wantStatus(t, w, 200)
	wantBody(t, w, "walhook_test_events_total 3")
	wantStatus(t, call{path: "/metrics"}.do(t, h), 401)
}

func TestRunServesAndShutsDown(t *testing.T) {
	t.Parallel()
	s, err := admin.New(admin.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestRunReportsListenError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := admin.New(admin.Options{Listen: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "listen for admin on") {
		t.Fatalf("Run on a busy port = %v, want a listen error", err)
	}
}

func TestAdminRequestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	o := fullOptions()
	o.Token, o.Gatherer, o.Registerer = testToken, reg, reg
	h := newHandler(t, o)
	wantStatus(t, call{path: "/api/v1/subscribers/1", token: testToken}.do(t, h), 200)
	wantStatus(t, call{path: "/api/v1/subscribers/99", token: testToken}.do(t, h), 404)
	wantStatus(t, call{path: "/api/v1/status"}.do(t, h), 401)
	w := call{path: "/metrics", token: testToken}.do(t, h)
	wantStatus(t, w, 200)
	wantBody(t, w,
		`walhook_admin_requests_total{code="200",route="GET /api/v1/subscribers/{id}"} 1`,
		`walhook_admin_requests_total{code="404",route="GET /api/v1/subscribers/{id}"} 1`,
		`walhook_admin_requests_total{code="401",route="/api/"} 1`,
		`walhook_admin_request_duration_seconds_count{route="GET /api/v1/subscribers/{id}"} 2`)
	if _, err := admin.New(o); err == nil || !strings.Contains(err.Error(), "register admin metrics") {
		t.Fatalf("second New on the same registry = %v, want a registration error", err)
	}
}
