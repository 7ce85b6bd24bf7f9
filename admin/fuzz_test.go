package admin_test

import (
	"testing"
)

// FuzzAPIBodies sends arbitrary bodies to every POST route: the answer is
// a 2xx or a 4xx JSON error, never a 5xx or a panic.
func FuzzAPIBodies(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"mode":"hold"}`, `{"table":"public.o","key":1,"event":"e"}`,
		`{"key":{"id":[1]}}`, `{"subscriber":1e400}`, `[`, `{"context":"x"}`, "\x00", `{"a":1}{"b":2}`} {
		f.Add(s)
	}
	h := newHandler(f, fullOptions())
	paths := []string{"/api/v1/pause", "/api/v1/send", "/api/v1/cache/clear", "/api/v1/retries/redeliver", "/api/v1/subscribers/1/test"}
	f.Fuzz(func(t *testing.T, body string) {
		for _, p := range paths {
			w := call{method: "POST", path: p, body: body}.do(t, h)
			if w.Code >= 500 || (w.Code >= 300 && w.Code < 400) {
				t.Fatalf("POST %s %q: status %d: %s", p, body, w.Code, w.Body)
			}
		}
	})
}

// FuzzLogQuery sends arbitrary query strings to the log list.
func FuzzLogQuery(f *testing.F) {
	for _, s := range []string{"", "limit=5", "since=24h", "since=2026-01-01T00:00:00Z", "cursor=9&status=failed", "subscriber=%00", "limit=99999999999999999999"} {
		f.Add(s)
	}
	h := newHandler(f, fullOptions())
	f.Fuzz(func(t *testing.T, q string) {
		for _, p := range []string{"/api/v1/logs", "/logs"} {
			w := call{path: p, rawQuery: q}.do(t, h)
			if w.Code != 200 && w.Code != 400 {
				t.Fatalf("GET %s%s: status %d: %s", p, q, w.Code, w.Body)
			}
		}
	})
}
