package admin_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/walhook/walhook/admin"
)

func TestDashboardPages(t *testing.T) {
	t.Parallel()
	h := newHandler(t, fullOptions())
	tests := []struct {
		path string
		want []string
	}{
		{"/", []string{"CRM Sync", "Billing Hooks", "Dead Receiver", "health-healthy", "health-warning", "health-critical",
			"rate-good", "rate-warn", "rate-bad", "✓", "✗", "paused in <b>hold</b>", "4.0 KiB", "90.0%", `action="/cache/clear"`}},
		{"/subscribers", []string{"CRM Sync", "health-critical", "10 consecutive failures", `action="/subscribers/1/deactivate"`, `action="/subscribers/3/activate"`}},
		{"/subscribers/1", []string{"CRM Sync", "whsec_…Xy9Q", "https://crm.example.com/hooks", "1m0s", "rate-good", `action="/subscribers/1/test"`}},
		{"/logs", []string{"CRM Sync", `href="/logs/42"`, "500"}},
		{"/logs?limit=1", []string{`href="/logs?cursor=42&amp;limit=1"`, "Older"}},
		{"/logs?status=failed&since=24h", []string{`<option value="failed" selected>`}},
		{"/logs/42", []string{"evt_0_16B6C50_0_11", "server error", "&#34;email&#34;: &#34;a@example.com&#34;", "&#34;error&#34;: &#34;boom&#34;"}},
		{"/errors", []string{"HTTP 500", "CRM Sync", `<td>2</td>`}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			w := call{path: tt.path}.do(t, h)
			wantStatus(t, w, 200)
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q", ct)
			}
			if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy = %q", csp)
			}
			wantBody(t, w, tt.want...)
			for _, bad := range []string{"<script", "http://", "https://fonts", "<link"} {
				if strings.Contains(w.Body.String(), bad) {
					t.Errorf("page contains %q: no scripts or external assets allowed", bad)
				}
			}
		})
	}
}

func TestDashboardErrors(t *testing.T) {
	t.Parallel()
	h := newHandler(t, fullOptions())
	tests := []struct {
		path string
		code int
		want string
	}{
		{"/subscribers/99", 404, "subscriber 99 does not exist"},
		{"/subscribers/x", 400, "not a positive integer"},
		{"/logs/7", 404, "log entry 7 does not exist"},
		{"/logs?status=maybe", 400, "use success or failed"},
		{"/nowhere", 404, "no such page"},
	}
	for _, tt := range tests {
		w := call{path: tt.path}.do(t, h)
		wantStatus(t, w, tt.code)
		wantBody(t, w, tt.want)
	}
	// Nothing wired: the overview still renders; other pages say what is missing.
	bare := newHandler(t, admin.Options{Listen: "127.0.0.1:8089"})
	wantStatus(t, call{path: "/"}.do(t, bare), 200)
	w := call{path: "/subscribers"}.do(t, bare)
	wantStatus(t, w, 501)
	wantBody(t, w, "Subscribers is not available")
}

func TestDashboardActions(t *testing.T) {
	t.Parallel()
	o := fullOptions()
	var did []string
	note := func(s string) { did = append(did, s) }
	o.Subscribers.(*fakeSubscribers).SetActiveFunc = func(_ context.Context, id int64, a bool) error {
		note(map[bool]string{true: "activate", false: "deactivate"}[a])
		return nil
	}
	o.Subscribers.(*fakeSubscribers).ResetFunc = func(context.Context, int64) error { note("reset"); return nil }
	o.Cache.(*fakeCache).ClearFunc = func(_ context.Context, table, event string) error { note("clear " + table); return nil }
	o.Cache.(*fakeCache).WarmFunc = func(context.Context) (int, error) { note("warm"); return 1, nil }
	o.Control.(*fakeControl).PauseFunc = func(_ context.Context, m string) error { note("pause " + m); return nil }
	o.Control.(*fakeControl).ResumeFunc = func(context.Context) error { note("resume"); return nil }
	o.Retries.(*fakeRetries).RedeliverFunc = func(_ context.Context, r admin.Redelivery) (int, error) { note("redeliver"); return 1, nil }
	h := newHandler(t, o)
	csrf := csrfToken(t, h, "")
	tests := []struct {
		path     string
		form     url.Values
		location string
	}{
		{"/subscribers/1/activate", url.Values{"next": {"/subscribers"}}, "/subscribers?done=activated"},
		{"/subscribers/1/deactivate", nil, "/subscribers/1?done=deactivated"},
		{"/subscribers/1/reset-counters", url.Values{"next": {"https://evil.example.com"}}, "/subscribers/1?done=reset"},
		{"/cache/clear", url.Values{"table": {"public.users"}}, "/?done=cleared"},
		{"/cache/warm", nil, "/?done=warmed"},
		{"/pause", url.Values{"mode": {"skip"}}, "/?done=paused"},
		{"/resume", nil, "/?done=resumed"},
		{"/retries/redeliver", url.Values{"subscriber": {"2"}}, "/?done=redelivered"},
	}
	for _, tt := range tests {
		form := url.Values{"csrf": {csrf}}
		for k, v := range tt.form {
			form[k] = v
		}
		w := call{method: "POST", path: tt.path, form: true, body: form.Encode()}.do(t, h)
		wantStatus(t, w, 303)
		if loc := w.Header().Get("Location"); loc != tt.location {
			t.Errorf("%s redirected to %q, want %q", tt.path, loc, tt.location)
		}
	}
	want := "activate deactivate reset clear public.users warm pause skip resume redeliver"
	if got := strings.Join(did, " "); got != want {
		t.Errorf("actions = %q, want %q", got, want)
	}
	w := call{path: "/?done=paused"}.do(t, h)
	wantBody(t, w, "Deliveries paused.")

	bad := call{method: "POST", path: "/pause", form: true, body: url.Values{"csrf": {csrf}, "mode": {"nap"}}.Encode()}.do(t, h)
	wantStatus(t, bad, 400)
	wantBody(t, bad, "not a pause mode")

	test := call{method: "POST", path: "/subscribers/1/test", form: true, body: url.Values{"csrf": {csrf}, "payload": {`{"a": 1}`}}.Encode()}.do(t, h)
	wantStatus(t, test, 200)
	wantBody(t, test, "✓ delivered", "HTTP 200", "Back to CRM Sync")
	badTest := call{method: "POST", path: "/subscribers/1/test", form: true, body: url.Values{"csrf": {csrf}, "payload": {`[1]`}}.Encode()}.do(t, h)
	wantStatus(t, badTest, 400)
	wantBody(t, badTest, "must be a JSON object")
}
