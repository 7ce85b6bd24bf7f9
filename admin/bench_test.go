package admin_test

import (
	"net/http/httptest"
	"testing"
)

// The admin server is not on the event path; these keep its common pages
// cheap enough to poll (dashboards, status scrapes).

func BenchmarkAPIStatus(b *testing.B) { benchGet(b, "/api/v1/status") }

func BenchmarkAPISubscribers(b *testing.B) { benchGet(b, "/api/v1/subscribers") }

func BenchmarkDashboardOverview(b *testing.B) { benchGet(b, "/") }

func benchGet(b *testing.B, path string) {
	o := fullOptions()
	o.Token = testToken
	s := newBenchServer(b, o)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+testToken)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}
