package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walhook/walhook/internal/pgtest"
)

// runCLI runs walhook with args in-process and returns its exit code,
// stdout and stderr.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = executeTo(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidateReportsEveryProblemWithExitCode2(t *testing.T) {
	t.Parallel()
	cfg := writeFile(t, "bad.yaml", `
source:
  dsn: postgres://localhost/app
  slott: walhook
subscribers:
  - name: a
    table: public.users
    target_url: file:///etc/passwd
    subscriptions:
      - event: creatd
`)
	code, _, stderr := runCLI(t, "validate", "--offline", "--config", cfg)
	if code != exitUsage {
		t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitUsage, stderr)
	}
	for _, want := range []string{"bad.yaml:4", "slott", "bad.yaml:8", "file", "bad.yaml:10", "did you mean created?"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestValidateMissingFile(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCLI(t, "validate", "--config", filepath.Join(t.TempDir(), "nope.yaml"))
	if code != exitUsage || !strings.Contains(stderr, "nope.yaml") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestValidateChecksTheDatabase(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, `CREATE TABLE public.users (id bigint PRIMARY KEY, email text)`)
	cfg := writeFile(t, "walhook.yaml", `
source: {dsn: "`+dsn+`"}
tables:
  public.users: {fields: [id, email, nmae]}
  public.missing: {fields: [id]}
events:
  - {name: email_updated, table: public.users, on: updated, when_changed: [email]}
subscribers:
  - name: a
    table: public.users
    target_url: https://example.com/hook
    subscriptions: [{event: created}, {event: email_updated}]
`)
	code, stdout, stderr := runCLI(t, "validate", "--config", cfg)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, exitUsage, stdout, stderr)
	}
	for _, want := range []string{"public.missing", "nmae", "REPLICA IDENTITY FULL"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	execSQL(t, dsn, `CREATE TABLE public.missing (id int PRIMARY KEY)`, `ALTER TABLE public.users ADD COLUMN nmae text`, `ALTER TABLE public.users REPLICA IDENTITY FULL`)
	code, stdout, stderr = runCLI(t, "validate", "--config", cfg)
	if code != exitOK || !strings.Contains(stdout, "database ok") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

func TestSecretGenerate(t *testing.T) {
	t.Parallel()
	code, stdout, _ := runCLI(t, "secret", "generate")
	if code != 0 || !strings.HasPrefix(stdout, "whsec_") {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
}

func TestUnknownFlagIsUsageError(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCLI(t, "run", "--nope")
	if code != exitUsage || !strings.Contains(stderr, "--nope") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

var _ = io.Discard
