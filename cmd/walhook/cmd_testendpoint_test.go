package main

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestTestCommandPostsSignedTestEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	out := f.mustRun(t, exitOK, "test", "--all")
	mustContain(t, out, "users hook", "lines hook", "ok")
	evs := f.sink.waitFor(3, 10*time.Second)
	var paths []string
	for _, ev := range evs {
		if ev.Event != "test" || !strings.HasPrefix(ev.Header, "evt_test_") || ev.ID != ev.Header {
			t.Errorf("test event %+v", ev)
		}
		paths = append(paths, ev.Path)
	}
	sort.Strings(paths)
	if strings.Join(paths, " ") != "/lines /users /users/updated" {
		t.Fatalf("paths %v, want every endpoint once", paths)
	}
	if bad := f.sink.badRequests(); len(bad) > 0 {
		t.Fatalf("receiver refused: %v", bad)
	}
	if n := f.count(t, `SELECT count(*) FROM walhook.delivery_log`); n != 0 {
		t.Fatalf("test deliveries were logged: %d rows", n)
	}

	res := decodeJSON[[]testOutcome](t, f.mustRun(t, exitOK, "test", "--subscriber-id", "2", "--payload", `{"test": true}`, "--json"))
	if len(res) != 1 || res[0].Subscriber != "lines hook" || !res[0].Success || res[0].ResponseStatus != http.StatusNoContent {
		t.Fatalf("test results: %+v", res)
	}
	if last := f.sink.waitFor(4, 10*time.Second)[3]; string(last.Body) != `{"test":true}` {
		t.Fatalf("custom payload arrived as %s", last.Body)
	}
}

func TestTestCommandReportsFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.sink.status = func(int) int { return http.StatusServiceUnavailable }
	code, stdout, stderr := f.run(t, "test", "--subscriber", "users hook")
	if code != exitError {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	mustContain(t, stdout, "FAILED", "503", "http 503")
	mustContain(t, stderr, "2 of 2 test deliveries failed")
}

func TestTestCommandRefusesBadFlags(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"test"}, "say which subscribers to test"},
		{[]string{"test", "--all", "--subscriber", "users hook"}, "exclude each other"},
		{[]string{"test", "--all", "--method", "GET"}, "POST only"},
		{[]string{"test", "--all", "--payload", "{test}"}, "--payload is not JSON"},
		{[]string{"test", "--subscriber", "nobody"}, `no subscriber is named "nobody"`},
	} {
		code, _, stderr := f.run(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	f.mustRun(t, exitOK, "test", "--all", "--method", "post")
}
