package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/walhook/walhook/admin"
)

func TestNewListenAndToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		listen, token string
		wantErr       string // "" for success
	}{
		{"127.0.0.1:8089", "", ""},
		{"[::1]:8089", "", ""},
		{"localhost:8089", "", ""},
		{"0.0.0.0:8089", "", "set admin.token"},
		{":8089", "", "set admin.token"},
		{"10.1.2.3:8089", "", "set admin.token"},
		{"0.0.0.0:8089", testToken, ""},
		{"8089", "", "not host:port"},
		{"", "", "admin.listen"},
	}
	for _, tt := range tests {
		t.Run(tt.listen+"/"+tt.token, func(t *testing.T) {
			t.Parallel()
			_, err := admin.New(admin.Options{Listen: tt.listen, Token: tt.token})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("New error = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	o := fullOptions()
	o.Listen, o.Token = "0.0.0.0:8089", testToken
	h := newHandler(t, o)
	tests := []struct {
		name  string
		c     call
		want  int
		where string // Location on redirects
	}{
		{"api no token", call{path: "/api/v1/status"}, 401, ""},
		{"api wrong token", call{path: "/api/v1/status", token: "wrong"}, 401, ""},
		{"api right token", call{path: "/api/v1/status", token: testToken}, 200, ""},
		{"api post no token", call{method: "POST", path: "/api/v1/resume"}, 401, ""},
		{"unknown api route no token", call{path: "/api/v1/nope"}, 401, ""},
		{"metrics no token", call{path: "/metrics"}, 401, ""},
		{"metrics wrong token", call{path: "/metrics", token: "wrong"}, 401, ""},
		{"dashboard no token", call{path: "/subscribers"}, 303, "/login?next=%2Fsubscribers"},
		{"dashboard wrong token", call{path: "/", token: "wrong"}, 303, "/login?next=%2F"},
		{"dashboard right token", call{path: "/", token: testToken}, 200, ""},
		{"dashboard post no token", call{method: "POST", path: "/resume", form: true}, 401, ""},
		{"healthz no token", call{path: "/healthz"}, 200, ""},
		{"readyz no token", call{path: "/readyz"}, 200, ""},
		{"login page no token", call{path: "/login"}, 200, ""},
		{"any host with token", call{path: "/api/v1/status", token: testToken, host: "walhook.internal:8089"}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := tt.c.do(t, h)
			wantStatus(t, w, tt.want)
			if tt.where != "" && w.Header().Get("Location") != tt.where {
				t.Errorf("Location = %q, want %q", w.Header().Get("Location"), tt.where)
			}
			if tt.want == 401 && strings.HasPrefix(tt.c.path, "/api/") {
				wantBody(t, w, `"error"`, "Authorization: Bearer")
			}
		})
	}
}

func TestOpenLoopbackMode(t *testing.T) {
	t.Parallel()
	h := newHandler(t, fullOptions()) // 127.0.0.1, no token
	wantStatus(t, call{path: "/api/v1/status"}.do(t, h), 200)
	wantStatus(t, call{path: "/", host: "localhost:8089"}.do(t, h), 200)
	wantStatus(t, call{path: "/metrics", host: "[::1]:8089"}.do(t, h), 501) // no Gatherer
	// DNS rebinding: a page served under another name must not reach us.
	w := call{path: "/api/v1/status", host: "evil.example.com"}.do(t, h)
	wantStatus(t, w, 403)
	wantBody(t, w, "not a loopback name", "admin.token")
	wantStatus(t, call{path: "/healthz", host: "evil.example.com"}.do(t, h), 200)
}

func TestLoginCookie(t *testing.T) {
	t.Parallel()
	o := fullOptions()
	o.Token = testToken
	h := newHandler(t, o)
	csrf := csrfToken(t, h, testToken)

	bad := call{method: "POST", path: "/login", form: true, body: url.Values{"csrf": {csrf}, "token": {"nope"}}.Encode()}.do(t, h)
	wantStatus(t, bad, 401)
	wantBody(t, bad, "not the admin token")
	if len(bad.Result().Cookies()) != 0 {
		t.Fatal("a wrong token got a cookie")
	}
	noCSRF := call{method: "POST", path: "/login", form: true, body: url.Values{"token": {testToken}}.Encode()}.do(t, h)
	wantStatus(t, noCSRF, 403)

	ok := call{method: "POST", path: "/login", form: true,
		body: url.Values{"csrf": {csrf}, "token": {testToken}, "next": {"/logs"}}.Encode()}.do(t, h)
	wantStatus(t, ok, 303)
	if loc := ok.Header().Get("Location"); loc != "/logs" {
		t.Errorf("Location = %q, want /logs", loc)
	}
	cookies := ok.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("got %d cookies, want 1", len(cookies))
	}
	c := cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/", c)
	}
	if strings.Contains(c.Value, testToken) {
		t.Error("cookie carries the token itself")
	}
	withCookie := []*http.Cookie{{Name: c.Name, Value: c.Value}}
	wantStatus(t, call{path: "/subscribers", cookies: withCookie}.do(t, h), 200)
	wantStatus(t, call{path: "/api/v1/status", cookies: withCookie}.do(t, h), 200)
	// A cookie alone does not authorise API changes: those need the header.
	wantStatus(t, call{method: "POST", path: "/api/v1/resume", cookies: withCookie}.do(t, h), 401)
	forged := []*http.Cookie{{Name: c.Name, Value: strings.Repeat("0", len(c.Value))}}
	wantStatus(t, call{path: "/subscribers", cookies: forged}.do(t, h), 303)
}

func TestLoginRedirectStaysLocal(t *testing.T) {
	t.Parallel()
	o := fullOptions()
	o.Token = testToken
	h := newHandler(t, o)
	csrf := csrfToken(t, h, testToken)
	for _, next := range []string{"https://evil.example.com/", "//evil.example.com", "/\\evil.example.com"} {
		w := call{method: "POST", path: "/login", form: true,
			body: url.Values{"csrf": {csrf}, "token": {testToken}, "next": {next}}.Encode()}.do(t, h)
		wantStatus(t, w, 303)
		if loc := w.Header().Get("Location"); loc != "/" {
			t.Errorf("next=%q redirected to %q, want /", next, loc)
		}
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	o := fullOptions()
	o.Token = testToken
	h := newHandler(t, o)
	csrf := csrfToken(t, h, testToken)
	tests := []struct {
		name   string
		form   url.Values
		header map[string]string
		want   int
	}{
		{"no token", url.Values{}, nil, 403},
		{"wrong token", url.Values{"csrf": {"00"}}, nil, 403},
		{"cross-site fetch", url.Values{"csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"foreign origin", url.Values{"csrf": {csrf}}, map[string]string{"Origin": "https://evil.example.com"}, 403},
		{"right token", url.Values{"csrf": {csrf}}, nil, 303},
		{"right token same origin", url.Values{"csrf": {csrf}}, map[string]string{"Origin": "http://127.0.0.1:8089", "Sec-Fetch-Site": "same-origin"}, 303},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := call{method: "POST", path: "/subscribers/1/deactivate", token: testToken, form: true,
				body: tt.form.Encode(), header: tt.header}.do(t, h)
			wantStatus(t, w, tt.want)
		})
	}
}

func TestCSRFRefusalLeavesStateAlone(t *testing.T) {
	t.Parallel()
	o := fullOptions()
	called := false
	o.Subscribers.(*fakeSubscribers).SetActiveFunc = func(_ context.Context, _ int64, _ bool) error {
		called = true
		return nil
	}
	h := newHandler(t, o)
	w := call{method: "POST", path: "/subscribers/1/deactivate", form: true, body: "next=/"}.do(t, h)
	wantStatus(t, w, 403)
	wantBody(t, w, "CSRF")
	if called {
		t.Fatal("deactivated without a CSRF token")
	}
}
