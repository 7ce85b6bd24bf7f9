package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/admin"
)

func TestAPIGoodPaths(t *testing.T) {
	t.Parallel()
	h := newHandler(t, fullOptions())
	tests := []struct {
		method, path, body string
		want               []string
	}{
		{"GET", "/api/v1/status", "", []string{`"subscribers_active": 2`, `"subscribers_inactive": 1`, `"deliveries_24h": 120`,
			`"pending": 3`, `"paused": true`, `"slot_lag_bytes": 4096`, `"hit_ratio": 0.9`, `"ready": true`, `"critical": 1`}},
		{"GET", "/api/v1/subscribers", "", []string{`"name": "CRM Sync"`, `"health": "healthy"`, `"health": "warning"`,
			`"health": "critical"`, `"retry_delay": "1m0s"`, `"secret_hint": "whsec_…Xy9Q"`, `"recent_deliveries"`}},
		{"GET", "/api/v1/subscribers/2", "", []string{`"name": "Billing Hooks"`, `"subscriptions": []`}},
		{"POST", "/api/v1/subscribers/1/activate", "", []string{`"id": 1`}},
		{"POST", "/api/v1/subscribers/1/deactivate", "", []string{`"id": 1`}},
		{"POST", "/api/v1/subscribers/1/reset-counters", "", []string{`"id": 1`}},
		{"POST", "/api/v1/subscribers/1/test", "", []string{`"success": true`, `"response_status": 200`}},
		{"POST", "/api/v1/subscribers/1/test", `{"test": true}`, []string{`"success": true`}},
		{"GET", "/api/v1/logs", "", []string{`"entries"`, `"event_id": "evt_0_16B6C50_0_11"`}},
		{"GET", "/api/v1/logs?subscriber=1&event=created&status=failed&since=24h&limit=1&cursor=99", "", []string{`"next_cursor": "42"`}},
		{"GET", "/api/v1/logs/42", "", []string{`"id": 42`, `"payload"`}},
		{"GET", "/api/v1/logs/stats", "", []string{`"days": 7`, `"total": 120`, `"by_subscriber": []`}},
		{"GET", "/api/v1/logs/stats?days=30", "", []string{`"days": 30`}},
		{"GET", "/api/v1/logs/errors?limit=5", "", []string{`"groups"`, `"count": 2`, `"message": "HTTP 500"`}},
		{"GET", "/api/v1/cache/stats", "", []string{`"hits": 90`, `"keys": 4`}},
		{"POST", "/api/v1/cache/clear", "", []string{`"cleared": true`}},
		{"POST", "/api/v1/cache/clear", `{"table": "public.users", "event": "created"}`, []string{`"table": "public.users"`}},
		{"POST", "/api/v1/cache/warm", "", []string{`"loaded": 4`}},
		{"GET", "/api/v1/pause", "", []string{`"paused": true`, `"mode": "hold"`}},
		{"POST", "/api/v1/pause", `{"mode": "skip"}`, []string{`"paused": true`}},
		{"POST", "/api/v1/resume", "", []string{`"paused"`}},
		{"POST", "/api/v1/send", `{"table": "public.orders", "key": 456, "event": "paid", "context": {"m": "stripe"}}`, []string{`"routed": 2`}},
		{"POST", "/api/v1/send", `{"table": "public.orders", "key": {"id": 456, "region": "eu"}, "event": "paid"}`, []string{`"routed": 2`}},
		{"GET", "/api/v1/retries", "", []string{`"failed": 1`}},
		{"POST", "/api/v1/retries/redeliver", "", []string{`"redelivered": 1`}},
		{"POST", "/api/v1/retries/redeliver", `{"subscriber": 3, "event_id": "evt_1"}`, []string{`"redelivered": 1`}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.body, func(t *testing.T) {
			t.Parallel()
			w := call{method: tt.method, path: tt.path, body: tt.body}.do(t, h)
			wantStatus(t, w, 200)
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			if !json.Valid(w.Body.Bytes()) {
				t.Errorf("body is not JSON: %s", w.Body)
			}
			wantBody(t, w, tt.want...)
		})
	}
}

func TestAPIBadPaths(t *testing.T) {
	t.Parallel()
	h := newHandler(t, fullOptions())
	tests := []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/api/v1/subscribers/abc", "", 400, `subscriber id \"abc\" is not a positive integer`},
		{"GET", "/api/v1/subscribers/0", "", 400, "positive integer"},
		{"GET", "/api/v1/subscribers/99", "", 404, "subscriber 99 does not exist"},
		{"POST", "/api/v1/subscribers/99/activate", "", 404, "does not exist"},
		{"POST", "/api/v1/subscribers/99/test", "", 404, "does not exist"},
		{"POST", "/api/v1/subscribers/1/test", `[1,2]`, 400, "must be a JSON object"},
		{"POST", "/api/v1/subscribers/1/test", `{"test": tru}`, 400, "not valid JSON"},
		{"GET", "/api/v1/logs?status=ok", "", 400, `status=\"ok\" is not a status; use success or failed`},
		{"GET", "/api/v1/logs?limit=0", "", 400, "from 1 to 1000"},
		{"GET", "/api/v1/logs?limit=x", "", 400, "from 1 to 1000"},
		{"GET", "/api/v1/logs?since=yesterday", "", 400, "neither an RFC 3339 time"},
		{"GET", "/api/v1/logs?cursor=-1", "", 400, "next_cursor"},
		{"GET", "/api/v1/logs?subscribr=1", "", 400, `unknown query parameter \"subscribr\"`},
		{"GET", "/api/v1/logs/7", "", 404, "log entry 7 does not exist"},
		{"GET", "/api/v1/logs/stats?days=0", "", 400, "days="},
		{"GET", "/api/v1/logs/errors?limit=5000", "", 400, "from 1 to 1000"},
		{"POST", "/api/v1/cache/clear", `{"table": "users"}`, 400, "not schema-qualified"},
		{"POST", "/api/v1/cache/clear", `{"tables": "public.users"}`, 400, `unknown field \"tables\"`},
		{"POST", "/api/v1/pause", "", 400, "request body is empty"},
		{"POST", "/api/v1/pause", `{}`, 400, "mode is required: skip"},
		{"POST", "/api/v1/pause", `{"mode": "stop"}`, 400, `mode \"stop\" is not a pause mode`},
		{"POST", "/api/v1/pause", `{"mode": 1}`, 400, `field \"mode\" must be a string, not number`},
		{"POST", "/api/v1/pause", `{"mode": "hold"} {}`, 400, "more after the JSON object"},
		{"POST", "/api/v1/pause", `"hold"`, 400, "must be a JSON object, not string"},
		{"POST", "/api/v1/send", `{"key": 1, "event": "paid"}`, 400, "table is required"},
		{"POST", "/api/v1/send", `{"table": "orders", "key": 1, "event": "paid"}`, 400, "not schema-qualified"},
		{"POST", "/api/v1/send", `{"table": "public.orders", "event": "paid"}`, 400, "key is required"},
		{"POST", "/api/v1/send", `{"table": "public.orders", "key": [1], "event": "paid"}`, 400, "not an array"},
		{"POST", "/api/v1/send", `{"table": "public.orders", "key": {}, "event": "paid"}`, 400, "key object is empty"},
		{"POST", "/api/v1/send", `{"table": "public.orders", "key": {"id": {"x": 1}}, "event": "paid"}`, 400, `key column \"id\" must be`},
		{"POST", "/api/v1/send", `{"table": "public.orders", "key": 1}`, 400, "event is required"},
		{"POST", "/api/v1/send", `{"table": "public.orders", "key": 1, "event": "paid", "context": [1]}`, 400, "context must be a JSON object"},
		{"POST", "/api/v1/send", `{"table": "public.orders", "key": 1, "event": "paid", "extra": 1}`, 400, `unknown field \"extra\"`},
		{"POST", "/api/v1/retries/redeliver", `{"subscriber": "x"}`, 400, `field \"subscriber\" must be an integer`},
		{"POST", "/api/v1/retries/redeliver", `{"subscriber": -2}`, 400, "not a subscriber id"},
		{"GET", "/api/v1/nope", "", 404, "no API route GET /api/v1/nope"},
		{"DELETE", "/api/v1/subscribers/1", "", 405, "DELETE is not allowed"},
		{"GET", "/api/v1/resume", "", 405, "allowed: POST"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.body, func(t *testing.T) {
			t.Parallel()
			w := call{method: tt.method, path: tt.path, body: tt.body}.do(t, h)
			wantStatus(t, w, tt.code)
			var e struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("body is not a JSON error: %s", w.Body)
			}
			wantBody(t, w, tt.want)
		})
	}
}

func TestAPIBodyCap(t *testing.T) {
	t.Parallel()
	h := newHandler(t, fullOptions())
	big := `{"table": "public.orders", "key": 1, "event": "paid", "context": {"x": "` + strings.Repeat("a", 1<<20) + `"}}`
	w := call{method: "POST", path: "/api/v1/send", body: big}.do(t, h)
	wantStatus(t, w, http.StatusRequestEntityTooLarge)
	wantBody(t, w, "larger than 1048576 bytes")
}

func TestAPINotWired(t *testing.T) {
	t.Parallel()
	h := newHandler(t, admin.Options{Listen: "127.0.0.1:8089"})
	tests := []struct{ method, path, body, part string }{
		{"GET", "/api/v1/subscribers", "", "Subscribers"},
		{"GET", "/api/v1/subscribers/1", "", "Subscribers"},
		{"POST", "/api/v1/subscribers/1/activate", "", "Subscribers"},
		{"POST", "/api/v1/subscribers/1/reset-counters", "", "Subscribers"},
		{"POST", "/api/v1/subscribers/1/test", "", "Tester"},
		{"GET", "/api/v1/logs", "", "Logs"},
		{"GET", "/api/v1/logs/1", "", "Logs"},
		{"GET", "/api/v1/logs/stats", "", "Logs"},
		{"GET", "/api/v1/logs/errors", "", "Logs"},
		{"GET", "/api/v1/cache/stats", "", "Cache"},
		{"POST", "/api/v1/cache/clear", "", "Cache"},
		{"POST", "/api/v1/cache/warm", "", "Cache"},
		{"GET", "/api/v1/pause", "", "Control"},
		{"POST", "/api/v1/pause", `{"mode": "hold"}`, "Control"},
		{"POST", "/api/v1/resume", "", "Control"},
		{"POST", "/api/v1/send", `{"table": "public.t", "key": 1, "event": "created"}`, "Sender"},
		{"GET", "/api/v1/retries", "", "Retries"},
		{"POST", "/api/v1/retries/redeliver", "", "Retries"},
		{"GET", "/metrics", "", "Metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			w := call{method: tt.method, path: tt.path, body: tt.body}.do(t, h)
			wantStatus(t, w, http.StatusNotImplemented)
			wantBody(t, w, tt.part+" is not available", `"error"`)
		})
	}
	// The status still answers, with what it has.
	w := call{path: "/api/v1/status"}.do(t, h)
	wantStatus(t, w, 200)
	wantBody(t, w, `"ready": false`, "Health is not available")
}

func TestAPIPassesParsedRequests(t *testing.T) {
	t.Parallel()
	o := fullOptions()
	var (
		gotFilter admin.LogFilter
		gotKey    any
		gotCtx    json.RawMessage
		gotMode   string
		gotRedel  admin.Redelivery
		gotClear  [2]string
		gotActive []bool
		gotTest   json.RawMessage
	)
	o.Logs.(*fakeLogs).ListFunc = func(_ context.Context, f admin.LogFilter) ([]admin.LogEntry, error) {
		gotFilter = f
		return nil, nil
	}
	o.Sender.(*fakeSender).SendFunc = func(_ context.Context, _ string, key any, _ string, c json.RawMessage) (int, error) {
		gotKey, gotCtx = key, c
		return 1, nil
	}
	o.Control.(*fakeControl).PauseFunc = func(_ context.Context, mode string) error { gotMode = mode; return nil }
	o.Retries.(*fakeRetries).RedeliverFunc = func(_ context.Context, r admin.Redelivery) (int, error) { gotRedel = r; return 0, nil }
	o.Cache.(*fakeCache).ClearFunc = func(_ context.Context, table, event string) error {
		gotClear = [2]string{table, event}
		return nil
	}
	o.Subscribers.(*fakeSubscribers).SetActiveFunc = func(_ context.Context, _ int64, a bool) error {
		gotActive = append(gotActive, a)
		return nil
	}
	o.Tester.(*fakeTester).TestFunc = func(_ context.Context, _ int64, p json.RawMessage) (admin.TestResult, error) {
		gotTest = p
		return admin.TestResult{}, nil
	}
	h := newHandler(t, o)

	before := time.Now()
	w := call{path: "/api/v1/logs?subscriber=CRM+Sync&status=success&since=1h&limit=10&cursor=77"}.do(t, h)
	wantStatus(t, w, 200)
	wantBody(t, w, `"entries": []`)
	if gotFilter.SubscriberName != "CRM Sync" || gotFilter.SubscriberID != 0 || gotFilter.Status != "success" ||
		gotFilter.Limit != 10 || gotFilter.BeforeID != 77 || gotFilter.Since.Before(before.Add(-time.Hour)) || gotFilter.Since.After(time.Now().Add(-time.Hour)) {
		t.Errorf("filter = %+v", gotFilter)
	}
	wantStatus(t, call{path: "/api/v1/logs?subscriber=3&since=2026-11-28T00:00:00Z"}.do(t, h), 200)
	if gotFilter.SubscriberID != 3 || !gotFilter.Since.Equal(time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)) || gotFilter.Limit != 50 {
		t.Errorf("filter = %+v", gotFilter)
	}

	wantStatus(t, call{method: "POST", path: "/api/v1/send", body: `{"table": "public.o", "key": 12345678901234567890, "event": "paid"}`}.do(t, h), 200)
	if gotKey != json.Number("12345678901234567890") || gotCtx != nil {
		t.Errorf("key = %#v (%T), context = %q; want exact json.Number and no context", gotKey, gotKey, gotCtx)
	}
	wantStatus(t, call{method: "POST", path: "/api/v1/send", body: `{"table": "public.o", "key": {"id": "a"}, "event": "paid", "context": {"k": 1}}`}.do(t, h), 200)
	if !reflect.DeepEqual(gotKey, map[string]any{"id": "a"}) || string(gotCtx) != `{"k": 1}` {
		t.Errorf("key = %#v, context = %s", gotKey, gotCtx)
	}

	wantStatus(t, call{method: "POST", path: "/api/v1/pause", body: `{"mode": " hold "}`}.do(t, h), 200)
	if gotMode != "hold" {
		t.Errorf("mode = %q", gotMode)
	}
	wantStatus(t, call{method: "POST", path: "/api/v1/retries/redeliver", body: `{"subscriber": 4, "event_id": "evt_x"}`}.do(t, h), 200)
	if gotRedel != (admin.Redelivery{SubscriberID: 4, EventID: "evt_x"}) {
		t.Errorf("redelivery = %+v", gotRedel)
	}
	wantStatus(t, call{method: "POST", path: "/api/v1/cache/clear", body: `{"event": "created"}`}.do(t, h), 200)
	if gotClear != [2]string{"", "created"} {
		t.Errorf("clear = %q", gotClear)
	}
	wantStatus(t, call{method: "POST", path: "/api/v1/subscribers/1/activate"}.do(t, h), 200)
	wantStatus(t, call{method: "POST", path: "/api/v1/subscribers/1/deactivate"}.do(t, h), 200)
	if !reflect.DeepEqual(gotActive, []bool{true, false}) {
		t.Errorf("active = %v", gotActive)
	}
	wantStatus(t, call{method: "POST", path: "/api/v1/subscribers/1/test", body: `{"ping": 1}`}.do(t, h), 200)
	if string(gotTest) != `{"ping": 1}` {
		t.Errorf("test payload = %s", gotTest)
	}
}

func TestAPIAdapterErrors(t *testing.T) {
	t.Parallel()
	o := fullOptions()
	o.Sender.(*fakeSender).SendFunc = func(context.Context, string, any, string, json.RawMessage) (int, error) {
		return 0, admin.NotFound("no row in public.orders with id 9")
	}
	o.Cache.(*fakeCache).WarmFunc = func(context.Context) (int, error) {
		return 0, errors.New("load subscriptions: connection refused")
	}
	o.Control.(*fakeControl).ResumeFunc = func(context.Context) error {
		return fmt.Errorf("resume: %w", admin.ErrInvalid)
	}
	o.Logs.(*fakeLogs).StatsFunc = func(ctx context.Context, _ int) (admin.LogStats, error) {
		return admin.LogStats{}, context.DeadlineExceeded
	}
	h := newHandler(t, o)
	tests := []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"POST", "/api/v1/send", `{"table": "public.orders", "key": 9, "event": "paid"}`, 404, "no row in public.orders with id 9"},
		{"POST", "/api/v1/cache/warm", "", 500, "connection refused"},
		{"POST", "/api/v1/resume", "", 400, "resume: invalid request"},
		{"GET", "/api/v1/logs/stats", "", 504, "deadline"},
	}
	for _, tt := range tests {
		w := call{method: tt.method, path: tt.path, body: tt.body}.do(t, h)
		wantStatus(t, w, tt.code)
		wantBody(t, w, tt.want)
	}
	// A failing part shows up in the status's problems, not as a failure.
	w := call{path: "/api/v1/status"}.do(t, h)
	wantStatus(t, w, 200)
	wantBody(t, w, `"problems"`, "delivery log: context deadline exceeded", `"subscribers_active": 2`)
}
