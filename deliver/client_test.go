package deliver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSendHeadersAndSignature(t *testing.T) {
	t.Parallel()
	secret := GenerateSecret()
	got := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
		fmt.Fprint(w, "thanks")
	})
	c := newClient(t, ClientOptions{AllowNetworks: loopback, Version: "1.2.3"})
	ep := &Endpoint{URL: srv.URL, Secrets: []string{secret},
		Headers: map[string]string{"X-Api-Key": "abc", "webhook-id": "forged", "Webhook-Signature": "forged", "Content-Type": "text/plain"}}
	ev := eventTo(ep, "evt_42", "")
	a := c.Send(context.Background(), []*Event{ev})[0]
	if !a.Success() || a.Status != 200 || a.ResponseBody != "thanks" || a.Error != "" || a.Event != ev || a.Number != 1 {
		t.Fatalf("attempt = %+v, want 200 thanks", a)
	}
	r, body := <-got, <-bodies
	if string(body) != string(ev.Body) {
		t.Errorf("body = %s, want %s", body, ev.Body)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "walhook/1.2.3",
		"Webhook-Id": "evt_42", "X-Api-Key": "abc"} {
		if v := r.Header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	if err := Verify([]string{secret}, r.Header, body, time.Minute); err != nil {
		t.Errorf("receiver cannot verify: %v", err)
	}
}

func TestSendRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var followed atomic.Int64
	target, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { followed.Add(1) })
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})
	c := newClient(t, ClientOptions{AllowNetworks: loopback})
	a := c.Send(context.Background(), []*Event{eventTo(&Endpoint{URL: srv.URL}, "evt_1", "")})[0]
	if a.Success() || a.Status != 307 || a.Error != "redirect not followed (http 307)" {
		t.Fatalf("attempt = %+v, want a failed 307 not followed", a)
	}
	if followed.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

func TestSendCapsResponseBody(t *testing.T) {
	t.Parallel()
	srv, conns := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Repeat("x", 10000))
	})
	c := newClient(t, ClientOptions{AllowNetworks: loopback, MaxResponseBytes: 100})
	ep := &Endpoint{URL: srv.URL}
	for i := range 3 {
		a := c.Send(context.Background(), []*Event{eventTo(ep, fmt.Sprint("evt_", i), "")})[0]
		if !a.Success() || len(a.ResponseBody) != 100 {
			t.Fatalf("attempt = status %d, %d body bytes; want 200 and 100 bytes", a.Status, len(a.ResponseBody))
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 3 requests, want 1 (the rest of the body is drained for reuse)", n)
	}
}

func TestSendStatusAndRetryAfter(t *testing.T) {
	t.Parallel()
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		status     int
		retryAfter string
		wantErr    string
		minRA      time.Duration
		maxRA      time.Duration
		gone       bool
	}{
		{503, "7", "http 503", 7 * time.Second, 7 * time.Second, false},
		{429, date, "http 429", 78 * time.Second, 90 * time.Second, false},
		{500, "soon", "http 500", 0, 0, false},
		{410, "", "http 410", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
			})
			c := newClient(t, ClientOptions{AllowNetworks: loopback})
			a := c.Send(context.Background(), []*Event{eventTo(&Endpoint{URL: srv.URL}, "evt_1", "")})[0]
			if a.Error != tt.wantErr || a.Status != tt.status || a.Gone() != tt.gone || a.Permanent {
				t.Fatalf("attempt = %+v, want error %q, gone %v", a, tt.wantErr, tt.gone)
			}
			if a.RetryAfter < tt.minRA || a.RetryAfter > tt.maxRA {
				t.Fatalf("RetryAfter = %s, want within [%s, %s]", a.RetryAfter, tt.minRA, tt.maxRA)
			}
		})
	}
}

func TestSendClassifiesTransportErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()
	block := make(chan struct{})
	slow, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-block })
	t.Cleanup(func() { close(block) })
	tests := []struct {
		name      string
		ep        *Endpoint
		want      string
		permanent bool
	}{
		{"refused", &Endpoint{URL: "http://" + closedAddr}, "connection refused", false},
		{"timeout", &Endpoint{URL: slow.URL, Timeout: 50 * time.Millisecond}, "timeout", false},
		{"dns", &Endpoint{URL: "http://walhook-test.invalid/"}, "dns: ", false},
		{"bad url", &Endpoint{URL: "://nope"}, "build request: invalid target URL", true},
		{"bad scheme", &Endpoint{URL: "ftp://example.com/"}, `scheme "ftp"`, true},
		{"bad secret", &Endpoint{URL: slow.URL, Secrets: []string{"secret"}}, "sign with secret 1", true},
		{"bad header name", &Endpoint{URL: slow.URL, Headers: map[string]string{"X Key": "v"}}, `header name "X Key"`, true},
		{"bad header value", &Endpoint{URL: slow.URL, Headers: map[string]string{"X-Key": "a\r\nInjected: 1"}}, `value of header "X-Key"`, true},
	}
	c := newClient(t, ClientOptions{AllowNetworks: loopback})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := c.Send(context.Background(), []*Event{eventTo(tt.ep, "evt_1", "")})[0]
			if !strings.Contains(a.Error, tt.want) || a.Permanent != tt.permanent || a.Status != 0 {
				t.Fatalf("attempt error %q permanent %v, want %q permanent %v", a.Error, a.Permanent, tt.want, tt.permanent)
			}
			if strings.Contains(a.Error, "://") {
				t.Errorf("error %q repeats the URL", a.Error)
			}
		})
	}
}

func TestSendBatch(t *testing.T) {
	t.Parallel()
	secret := GenerateSecret()
	type received struct {
		h    http.Header
		body []byte
	}
	got := make(chan received, 1)
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{r.Header, b}
	})
	c := newClient(t, ClientOptions{AllowNetworks: loopback})
	ep := &Endpoint{URL: srv.URL, Secrets: []string{secret}, BatchSize: 10}
	evs := []*Event{eventTo(ep, "evt_1", ""), eventTo(ep, "evt_2", ""), eventTo(ep, "evt_3", "")}
	atts := c.Send(context.Background(), evs)
	if len(atts) != 3 {
		t.Fatalf("%d attempts, want 3", len(atts))
	}
	for i, a := range atts {
		if !a.Success() || a.Event != evs[i] {
			t.Errorf("attempt %d = %+v, want success for its event", i, a)
		}
	}
	r := <-got
	var batch struct {
		Type   string            `json:"type"`
		ID     string            `json:"id"`
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(r.body, &batch); err != nil {
		t.Fatalf("batch body %s: %v", r.body, err)
	}
	if batch.Type != "batch" || len(batch.Events) != 3 || string(batch.Events[1]) != string(evs[1].Body) {
		t.Fatalf("batch = %s", r.body)
	}
	if id := r.h.Get("webhook-id"); id != BatchID(evs) || batch.ID != id || !strings.HasPrefix(id, "batch_") {
		t.Errorf("webhook-id %q, body id %q, want %q", id, batch.ID, BatchID(evs))
	}
	if BatchID(evs) == BatchID(evs[:2]) || BatchID(evs) != BatchID([]*Event{evs[0], evs[1], evs[2]}) {
		t.Error("BatchID is not a stable function of the ids")
	}
	if err := Verify([]string{secret}, r.h, r.body, time.Minute); err != nil {
		t.Errorf("receiver cannot verify the batch: %v", err)
	}
}

// BenchmarkSend measures signed single-event requests against a local
// keep-alive server with 1 and 16 requests in flight.
func BenchmarkSend(b *testing.B) {
	srv, _ := newServer(b, func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	c := newClient(b, ClientOptions{AllowNetworks: loopback, MaxConnsPerHost: 16})
	ep := &Endpoint{URL: srv.URL, Secrets: []string{specSecret}}
	for _, inflight := range []int{1, 16} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			b.ReportAllocs()
			var n atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			for range inflight {
				wg.Go(func() {
					evs := []*Event{eventTo(ep, "evt_bench", "")}
					for n.Add(1) <= int64(b.N) {
						if a := c.Send(context.Background(), evs)[0]; !a.Success() {
							b.Error(a.Error)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
