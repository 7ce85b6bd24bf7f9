package admin

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestSecretHint(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_…LaSw"},
		{"whsec_short", "whsec_…"},
		{"plain-secret-without-prefix-1234", "…1234"},
		{"tiny", "…"},
	}
	for _, tt := range tests {
		if got := SecretHint(tt.in); got != tt.want {
			t.Errorf("SecretHint(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHealthOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    Subscriber
		want string
	}{
		{"no failures", Subscriber{IsActive: true, AutoDisableAfterFailures: 10}, Healthy},
		{"some failures", Subscriber{IsActive: true, ConsecutiveFailures: 4, AutoDisableAfterFailures: 10}, Warning},
		{"half the threshold", Subscriber{IsActive: true, ConsecutiveFailures: 5, AutoDisableAfterFailures: 10}, Critical},
		{"no threshold", Subscriber{IsActive: true, ConsecutiveFailures: 4}, Warning},
		{"no threshold, many", Subscriber{IsActive: true, ConsecutiveFailures: 5}, Critical},
		{"auto-disabled", Subscriber{DisabledReason: "410 Gone"}, Critical},
		{"deactivated by hand", Subscriber{}, Healthy},
	}
	for _, tt := range tests {
		if got := HealthOf(tt.s); got != tt.want {
			t.Errorf("%s: HealthOf = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestPresentMasksUnmaskedHint(t *testing.T) {
	t.Parallel()
	s := present(Subscriber{SecretHint: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
	if s.SecretHint != "whsec_…LaSw" || s.Health != Healthy || s.Subscriptions == nil {
		t.Errorf("present = %+v", s)
	}
}

func TestGroupErrors(t *testing.T) {
	t.Parallel()
	at := func(m int) time.Time { return time.Date(2026, 11, 29, 3, m, 0, 0, time.UTC) }
	entries := []LogEntry{
		{ID: 5, Subscriber: "a", ErrorMessage: "dial tcp: connection refused", CreatedAt: at(5)},
		{ID: 4, Subscriber: "b", ResponseStatus: 503, CreatedAt: at(4)},
		{ID: 3, Subscriber: "b", ErrorMessage: "dial tcp: connection refused", CreatedAt: at(3)},
		{ID: 2, Subscriber: "a", ErrorMessage: "dial tcp: connection refused", CreatedAt: at(2)},
		{ID: 1, Subscriber: "c"},
	}
	got := groupErrors(entries)
	if len(got) != 3 {
		t.Fatalf("got %d groups, want 3: %+v", len(got), got)
	}
	g := got[0]
	if g.Message != "dial tcp: connection refused" || g.Count != 3 || g.LastID != 5 || !g.LastAt.Equal(at(5)) ||
		len(g.Subscribers) != 2 || g.Subscribers[0] != "a" || g.Subscribers[1] != "b" {
		t.Errorf("first group = %+v", g)
	}
	if got[1].Message != "HTTP 503 Service Unavailable" || got[2].Message != "unknown error" {
		t.Errorf("other groups = %+v", got[1:])
	}
}

func TestLocalPath(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"/logs?x=1", "/logs?x=1"},
		{"", "/d"},
		{"logs", "/d"},
		{"//evil.example.com", "/d"},
		{"/\\evil.example.com", "/d"},
		{"https://evil.example.com", "/d"},
	}
	for _, tt := range tests {
		if got := localPath(tt.in, "/d"); got != tt.want {
			t.Errorf("localPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {5 << 20, "5.0 MiB"}, {3 << 30, "3.0 GiB"}}
	for _, tt := range tests {
		if got := humanBytes(tt.in); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRateClass(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rate  float64
		total int64
		want  string
	}{{0, 0, "rate-none"}, {100, 1, "rate-good"}, {95, 20, "rate-good"}, {94.9, 20, "rate-warn"}, {80, 5, "rate-warn"}, {79.9, 5, "rate-bad"}}
	for _, tt := range tests {
		if got := rateClass(tt.rate, tt.total); got != tt.want {
			t.Errorf("rateClass(%v, %d) = %q, want %q", tt.rate, tt.total, got, tt.want)
		}
	}
}

func TestMarkKeepsMessageAndChain(t *testing.T) {
	t.Parallel()
	cause := errors.New("send paid: table public.x is not captured")
	tests := []struct {
		err  error
		kind error
		code int
	}{
		{MarkInvalid(cause), ErrInvalid, 400},
		{MarkNotFound(fmt.Errorf("wrapped: %w", cause)), ErrNotFound, 404},
		{Invalid("bad %d", 1), ErrInvalid, 400},
		{NotFound("no %s", "row"), ErrNotFound, 404},
		{fmt.Errorf("read: %w", context.DeadlineExceeded), nil, 504},
		{errors.New("boom"), nil, 500},
	}
	for _, tt := range tests {
		if tt.kind != nil && !errors.Is(tt.err, tt.kind) {
			t.Errorf("%v is not %v", tt.err, tt.kind)
		}
		if got := httpStatus(tt.err); got != tt.code {
			t.Errorf("httpStatus(%v) = %d, want %d", tt.err, got, tt.code)
		}
	}
	if e := MarkInvalid(cause); e.Error() != cause.Error() || !errors.Is(e, cause) {
		t.Errorf("MarkInvalid changed the message or lost the cause: %v", e)
	}
	if MarkInvalid(nil) != nil || MarkNotFound(nil) != nil {
		t.Error("Mark of nil is not nil")
	}
}
