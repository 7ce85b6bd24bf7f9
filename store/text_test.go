package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestCleanText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"plain", 0, "plain"},
		{"plain", 3, "pla"},
		{"héllo", 2, "h"}, // cut inside é goes back to the rune start
		{"héllo", 3, "hé"},
		{"a\x00b", 0, "ab"},
		{"a\xffb", 0, "a\uFFFDb"},
		{"", 5, ""},
	} {
		if got := cleanText(tc.in, tc.limit); got != tc.want {
			t.Errorf("cleanText(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}

func TestTransient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{errors.New("dial tcp: connection refused"), true},
		{context.DeadlineExceeded, true},
		{&pgconn.PgError{Code: "08006"}, true},                          // connection failure
		{&pgconn.PgError{Code: "40P01"}, true},                          // deadlock
		{&pgconn.PgError{Code: "57P01"}, true},                          // admin shutdown
		{&pgconn.PgError{Code: "53300"}, true},                          // too many connections
		{fmt.Errorf("copy: %w", &pgconn.PgError{Code: "22021"}), false}, // bad encoding
		{&pgconn.PgError{Code: "42601"}, false},                         // syntax
		{&pgconn.PgError{Code: "23505"}, false},                         // unique violation
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%v) = %t, want %t", tc.err, got, tc.want)
		}
	}
}

func TestMaskSecret(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"whsec_0123456789abcdefghij": "whsec_01…",
		"abc":                        "a…",
		"":                           "…",
	} {
		if got := MaskSecret(in); got != want {
			t.Errorf("MaskSecret(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDurationMS(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]int32{0: 0, -time.Second: 0, time.Microsecond: 1, time.Millisecond: 1, 1500 * time.Microsecond: 2, time.Second: 1000} {
		if got := durationMS(d); got != want {
			t.Errorf("durationMS(%s) = %d, want %d", d, got, want)
		}
	}
}
