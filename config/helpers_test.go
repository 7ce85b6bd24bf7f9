package config_test

import (
	"errors"
	"testing"

	"github.com/walhook/walhook/config"
)

// testSecret is a well-formed secret (24 zero bytes would do too, but this
// one looks like what `walhook secret generate` prints).
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// envOf returns a lookup function over m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// baseEnv has DATABASE_URL set, so that a file without source.dsn parses.
func baseEnv() map[string]string {
	return map[string]string{"DATABASE_URL": "postgres://app@db/app"}
}

// mustParse parses src and fails the test on any error.
func mustParse(t *testing.T, src string, env map[string]string) *config.Config {
	t.Helper()
	c, err := config.Parse("walhook.yaml", []byte(src), envOf(env))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// parseErrors parses src, which must be refused, and returns its problems.
func parseErrors(t *testing.T, src string, env map[string]string) config.Errors {
	t.Helper()
	c, err := config.Parse("walhook.yaml", []byte(src), envOf(env))
	if err == nil {
		t.Fatalf("Parse accepted the file: %+v", c)
	}
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse error is %T, want config.Errors: %v", err, err)
	}
	return errs
}
