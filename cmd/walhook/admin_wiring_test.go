package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/walhook/walhook/admin"
	"github.com/walhook/walhook/deliver"
)

// serveAdmin serves the fixture's state through newAdminServer, as a
// standby process would (no router), with a running dispatcher.
func serveAdmin(t *testing.T, f *fixture) *httptest.Server {
	t.Helper()
	// Not newLogging: it sets zerolog's global time format, which races
	// with tests running a pipeline.
	lg := &logging{root: zerolog.New(testWriter{t}).Level(zerolog.WarnLevel)}
	client, err := newDeliverClient(f.cfg)
	fatalIf(t, err, "client")
	disp, err := deliver.NewDispatcher(deliver.Options{Client: client, Concurrency: 4, PerEndpoint: 2, Recorder: f.db, RetryQueue: f.db})
	fatalIf(t, err, "dispatcher")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- disp.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	p := &pipeline{cfg: f.cfg, lg: lg, reg: prometheus.NewRegistry(), db: f.db, disp: disp, leading: make(chan struct{})}
	srv, err := newAdminServer(p)
	fatalIf(t, err, "admin server")
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// api calls the admin API with the fixture's token and returns the status
// and body.
func api(t *testing.T, ts *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	fatalIf(t, err, "request")
	req.Header.Set("Authorization", "Bearer test-admin-token-0123456789")
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.Client().Do(req)
	fatalIf(t, err, "%s %s", method, path)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func apiOK[T any](t *testing.T, ts *httptest.Server, method, path, body string) T {
	t.Helper()
	code, out := api(t, ts, method, path, body)
	if code != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d: %s", method, path, code, out)
	}
	return decodeJSON[T](t, out)
}

func TestAdminAdaptersServeTheState(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.seedLog(t)
	ts := serveAdmin(t, f)

	resp, err := http.Get(ts.URL + "/api/v1/subscribers")
	fatalIf(t, err, "get without token")
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: HTTP %d", resp.StatusCode)
	}

	subs := apiOK[struct {
		Subscribers []subscriberJSON `json:"subscribers"`
	}](t, ts, "GET", "/api/v1/subscribers", "").Subscribers
	if len(subs) != 2 || subs[1].Name != "users hook" || !strings.Contains(subs[1].SecretHint, "…") {
		t.Fatalf("subscribers: %+v", subs)
	}
	one := apiOK[subscriberJSON](t, ts, "GET", "/api/v1/subscribers/1", "")
	if rd := one.Subscriptions[0].RecentDeliveries; len(rd) == 0 || rd[0].ResponseStatus != 200 || rd[0].ID != 4 {
		t.Fatalf("recent deliveries, newest first: %+v", rd)
	}
	if code, _ := api(t, ts, "GET", "/api/v1/subscribers/99", ""); code != http.StatusNotFound {
		t.Fatalf("unknown subscriber: HTTP %d", code)
	}

	logs := apiOK[admin.LogPage](t, ts, "GET", "/api/v1/logs?status=failed", "")
	if len(logs.Entries) != 1 || logs.Entries[0].EventID != "evt_c" || logs.Entries[0].Subscriber != "users hook" {
		t.Fatalf("failed logs: %+v", logs)
	}
	entry := apiOK[admin.LogEntry](t, ts, "GET", "/api/v1/logs/1", "")
	if strings.Join(strings.Fields(string(entry.Payload)), "") != `{"id":1}` {
		t.Fatalf("log entry payload %s", entry.Payload)
	}
	stats := apiOK[admin.LogStats](t, ts, "GET", "/api/v1/logs/stats?days=7", "")
	if stats.Total != 3 || stats.Failed != 1 {
		t.Fatalf("log stats: %+v", stats)
	}
	q := apiOK[admin.QueueReport](t, ts, "GET", "/api/v1/retries", "")
	if q.QueueDepth["failed"] != 1 || q.QueueDepth["held"] != 1 || q.QueueDepth["pending"] != 0 {
		t.Fatalf("queue: %+v", q)
	}

	apiOK[map[string]any](t, ts, "POST", "/api/v1/subscribers/1/deactivate", "")
	st := apiOK[admin.Status](t, ts, "GET", "/api/v1/status", "")
	if st.SubscribersActive != 1 || st.SubscribersInactive != 1 || st.Deliveries24h != 3 || !st.Ready || len(st.Problems) != 0 {
		t.Fatalf("status: %+v", st)
	}
	apiOK[map[string]any](t, ts, "POST", "/api/v1/subscribers/1/activate", "")

	apiOK[map[string]any](t, ts, "POST", "/api/v1/pause", `{"mode": "hold"}`)
	if p := apiOK[admin.PauseState](t, ts, "GET", "/api/v1/pause", ""); !p.Paused || p.Mode != "hold" {
		t.Fatalf("pause: %+v", p)
	}
	apiOK[map[string]any](t, ts, "POST", "/api/v1/resume", "")
	if n := f.count(t, `SELECT count(*) FROM walhook.retry_queue WHERE status = 'held'`); n != 0 {
		t.Fatalf("resume without a leader left %d rows held", n)
	}

	if code, body := api(t, ts, "GET", "/readyz", ""); code != http.StatusOK {
		t.Fatalf("readyz: HTTP %d %s", code, body)
	}
	warm := apiOK[map[string]int](t, ts, "POST", "/api/v1/cache/warm", "")
	if warm["loaded"] != 3 {
		t.Fatalf("warm: %v", warm)
	}
}

func TestAdminSendAndTest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.sql(t, `INSERT INTO public.users VALUES (7, 'Ada', 'ada@example.com')`)
	ts := serveAdmin(t, f)

	res := apiOK[admin.SendResult](t, ts, "POST", "/api/v1/send", `{"table": "public.users", "key": 7, "event": "created", "context": {"by": "api"}}`)
	if res.Routed != 1 {
		t.Fatalf("routed %d", res.Routed)
	}
	if ev := f.sink.waitFor(1, 10*time.Second)[0]; ev.Path != "/users" || ev.Event != "created" {
		t.Fatalf("event %+v", ev)
	}
	for _, tc := range []struct {
		body string
		code int
		want string
	}{
		{`{"table": "public.users", "key": 99, "event": "created"}`, http.StatusNotFound, "no row of public.users"},
		{`{"table": "public.users", "key": "x", "event": "created"}`, http.StatusBadRequest, "not a number"},
		{`{"table": "public.nope", "key": 1, "event": "created"}`, http.StatusNotFound, "does not exist"},
		{`{"table": "public.users", "key": 7, "event": "nope"}`, http.StatusNotFound, "not an event of public.users"},
		{`{"table": "public.lines", "key": 7, "event": "paid"}`, http.StatusBadRequest, "composite primary key"},
		{`{"table": "public.users", "key": 7, "event": "deleted"}`, http.StatusBadRequest, "no active subscription"},
	} {
		code, body := api(t, ts, "POST", "/api/v1/send", tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: HTTP %d %s, want %d with %q", tc.body, code, body, tc.code, tc.want)
		}
	}

	tr := apiOK[admin.TestResult](t, ts, "POST", "/api/v1/subscribers/2/test", "")
	if !tr.Success || tr.URL != f.sink.srv.URL+"/lines" {
		t.Fatalf("test: %+v", tr)
	}
	var got gotEvent
	evs := f.sink.waitFor(2, 10*time.Second)
	fatalIf(t, json.Unmarshal(evs[1].Body, &got), "decode test event")
	if got.Event != "test" {
		t.Fatalf("test event %s", evs[1].Body)
	}
}
