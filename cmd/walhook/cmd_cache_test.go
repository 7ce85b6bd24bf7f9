package main

import (
	"net"
	"strings"
	"testing"

	"github.com/walhook/walhook/admin"
)

func TestCacheCommandsTalkToTheRunningProcess(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ts := serveAdmin(t, f)
	url := "--admin-url=" + ts.URL

	mustContain(t, f.mustRun(t, exitOK, "cache", "warm", url), "3 (table, event) entries loaded")
	st := decodeJSON[admin.CacheStats](t, f.mustRun(t, exitOK, "cache", "stats", url, "--json"))
	if st.Keys != 3 {
		t.Fatalf("stats after warm: %+v", st)
	}
	mustContain(t, f.mustRun(t, exitOK, "cache", "clear", url, "--table", "public.users", "--event", "created"), "cache cleared for public.users created")
	if st := decodeJSON[admin.CacheStats](t, f.mustRun(t, exitOK, "cache", "stats", url, "--json")); st.Keys != 2 {
		t.Fatalf("stats after clearing one entry: %+v", st)
	}
	mustContain(t, f.mustRun(t, exitOK, "cache", "clear", url), "cache cleared")
	mustContain(t, f.mustRun(t, exitOK, "cache", "stats", url), "keys 0")
}

func TestCacheCommandsSayWhenNothingRuns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// An address where nothing listens: other tests of this package may run
	// walhook on the fixture's admin.listen, so take a closed port instead.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	stderr := f.mustRun(t, exitError, "cache", "stats", "--admin-url", dead)
	mustContain(t, stderr, "no walhook is running at "+dead, "--admin-url")
	f.mustRun(t, exitUsage, "cache", "clear", "--event", "created")
	f.mustRun(t, exitUsage, "cache", "clear", "--table", "users")
	f.mustRun(t, exitUsage, "cache", "stats", "--admin-url", "localhost:8089")

	ts := serveAdmin(t, f)
	other := writeFile(t, "other.yaml", strings.Replace(readFile(t, f.cfgPath), "test-admin-token-0123456789", "wrong-token-wrong-token", 1))
	code, _, stderr := runCLI(t, "cache", "stats", "--config", other, "--admin-url", ts.URL)
	if code != exitError || !strings.Contains(stderr, "refused the admin token") {
		t.Fatalf("wrong token: exit %d, stderr %s", code, stderr)
	}
}
