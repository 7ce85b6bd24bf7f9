package admin_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/walhook/walhook/admin"
)

const testToken = "s3cr3t-admin-token-for-tests"

// newHandler builds a server from o and returns its handler.
func newHandler(t testing.TB, o admin.Options) http.Handler {
	t.Helper()
	s, err := admin.New(o)
	if err != nil {
		t.Fatalf("admin.New: %v", err)
	}
	return s.Handler()
}

// newBenchServer is newHandler for benchmarks.
func newBenchServer(b *testing.B, o admin.Options) http.Handler {
	b.Helper()
	s, err := admin.New(o)
	if err != nil {
		b.Fatalf("admin.New: %v", err)
	}
	return s.Handler()
}

// call is one request to a handler.
type call struct {
	method, path, body string
	token              string // sent as Authorization: Bearer when set
	host               string // default 127.0.0.1:8089
	header             map[string]string
	cookies            []*http.Cookie
	form               bool   // body is an url-encoded form
	rawQuery           string // set verbatim after parsing path
}

func (c call) do(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
	t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodGet
	}
	r := httptest.NewRequest(method, c.path, strings.NewReader(c.body))
	r.Host = "127.0.0.1:8089"
	if c.rawQuery != "" {
		r.URL.RawQuery = c.rawQuery
	}
	if c.host != "" {
		r.Host = c.host
	}
	if c.token != "" {
		r.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.form {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else if c.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		r.Header.Set(k, v)
	}
	for _, ck := range c.cookies {
		r.AddCookie(ck)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrfToken reads the CSRF token from a rendered dashboard page.
func csrfToken(t *testing.T, h http.Handler, token string) string {
	t.Helper()
	w := call{path: "/", token: token}.do(t, h)
	m := csrfRE.FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("no CSRF token on the overview page (status %d)", w.Code)
	}
	return m[1]
}

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, code int) {
	t.Helper()
	if w.Code != code {
		t.Fatalf("status = %d, want %d; body:\n%s", w.Code, code, w.Body.String())
	}
}

func wantBody(t *testing.T, w *httptest.ResponseRecorder, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(w.Body.String(), s) {
			t.Errorf("body lacks %q; body:\n%s", s, w.Body.String())
		}
	}
}
