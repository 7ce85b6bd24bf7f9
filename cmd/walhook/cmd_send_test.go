package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSendDeliversNow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.sql(t, `INSERT INTO public.users VALUES (7, 'Ada', 'ada@example.com')`,
		`INSERT INTO public.lines VALUES (456, 2, 3)`)

	out := f.mustRun(t, exitOK, "send", "public.users", "7", "created", "--context", `{"by": "ops"}`)
	mustContain(t, out, "users hook", "DELIVERED", "204", "evt_m_")
	ev := f.sink.waitFor(1, 10*time.Second)[0]
	if ev.Path != "/users" || ev.Event != "created" || ev.Table != "public.users" {
		t.Fatalf("event %+v", ev)
	}
	var body struct {
		Data    map[string]any `json:"data"`
		Context map[string]any `json:"context"`
	}
	fatalIf(t, json.Unmarshal(ev.Body, &body), "decode body")
	if body.Data["email"] != "ada@example.com" || body.Data["id"] != float64(7) || body.Context["by"] != "ops" {
		t.Fatalf("payload %s", ev.Body)
	}

	// A composite key as --key; the outcome as JSON.
	res := decodeJSON[[]sendOutcome](t, f.mustRun(t, exitOK, "send", "public.lines", "paid", "--key", `{"order_id": 456, "line": 2}`, "--json"))
	if len(res) != 1 || res[0].Outcome != outcomeDelivered || res[0].Subscriber != "lines hook" {
		t.Fatalf("outcomes %+v", res)
	}
	if evs := f.sink.waitFor(2, 10*time.Second); evs[1].Path != "/lines" || evs[1].Event != "paid" {
		t.Fatalf("second event %+v", evs[1])
	}
	// Both attempts were logged and counted before send returned.
	if n := f.count(t, `SELECT count(*) FROM walhook.delivery_log WHERE response_status = 204`); n != 2 {
		t.Fatalf("%d logged successes, want 2", n)
	}
}

func TestSendQueuesAFailureForRetry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.sql(t, `INSERT INTO public.users VALUES (7, 'Ada', 'ada@example.com')`)
	f.sink.status = func(int) int { return http.StatusInternalServerError }

	code, stdout, stderr := f.run(t, "send", "public.users", "7", "created")
	if code != exitError {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	mustContain(t, stdout, "QUEUED", "500", "next try")
	mustContain(t, stderr, "1 of 1 subscribers did not get the event now")
	var status string
	var attempts int
	pgtestQuery(t, f.dsn, `SELECT status, attempts FROM walhook.retry_queue`, &status, &attempts)
	if status != "pending" || attempts != 1 {
		t.Fatalf("retry row: %s, %d attempts", status, attempts)
	}
	if n := f.count(t, `SELECT count(*) FROM walhook.delivery_log WHERE response_status = 500`); n != 1 {
		t.Fatalf("%d logged failures, want 1", n)
	}

	// A later send of the same row queues behind the waiting event, untried.
	f.sink.status = nil
	code, stdout, _ = f.run(t, "send", "public.users", "7", "created")
	if code != exitError || !strings.Contains(stdout, "queued behind them") {
		t.Fatalf("second send: exit %d\n%s", code, stdout)
	}
	if n := f.count(t, `SELECT count(*) FROM walhook.retry_queue`); n != 2 {
		t.Fatalf("%d retry rows, want 2", n)
	}

	// --no-retry tries once and leaves the queue alone.
	f.sql(t, `INSERT INTO public.users VALUES (8, 'Bob', 'bob@example.com')`)
	f.sink.status = func(int) int { return http.StatusBadGateway }
	code, stdout, _ = f.run(t, "send", "public.users", "8", "created", "--no-retry")
	if code != exitError || !strings.Contains(stdout, "FAILED") {
		t.Fatalf("--no-retry: exit %d\n%s", code, stdout)
	}
	if n := f.count(t, `SELECT count(*) FROM walhook.retry_queue`); n != 2 {
		t.Fatalf("%d retry rows after --no-retry, want 2", n)
	}
}

func TestSendRefusesBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.sql(t, `INSERT INTO public.users VALUES (7, 'Ada', 'ada@example.com')`)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"send", "users", "7", "created"}, exitUsage, "not schema-qualified"},
		{[]string{"send", "public.users", "created"}, exitUsage, "missing KEY"},
		{[]string{"send", "public.users"}, exitUsage, "send takes TABLE KEY EVENT"},
		{[]string{"send", "public.users", "7", "created", "--key", `{"id": 7}`}, exitUsage, "given twice"},
		{[]string{"send", "public.users", "created", "--key", `{"id": 7`}, exitUsage, "--key"},
		{[]string{"send", "public.users", "7", "created", "--context", `[1]`}, exitUsage, "--context"},
		{[]string{"send", "public.nope", "7", "created"}, exitUsage, "public.nope does not exist"},
		{[]string{"send", "public.nokey", "7", "created"}, exitUsage, "has no primary key"},
		{[]string{"send", "public.users", "7", "creatd"}, exitUsage, `event "creatd" is not an event of public.users: use one of created, updated, deleted`},
		{[]string{"send", "public.users", "seven", "created"}, exitUsage, `"seven" is not a number`},
		{[]string{"send", "public.users", "created", "--key", `{"uid": 7}`}, exitUsage, "misses column id"},
		{[]string{"send", "public.lines", "1", "paid"}, exitUsage, "composite primary key (order_id, line)"},
		{[]string{"send", "public.users", "99", "created"}, exitError, "no row of public.users"},
		{[]string{"send", "public.users", "7", "deleted"}, exitError, "no active subscription"},
	} {
		code, stdout, stderr := f.run(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q\nstdout: %s\nstderr: %s", tc.args, code, tc.code, tc.want, stdout, stderr)
		}
	}
	f.mustRun(t, exitOK, "pause")
	stderr := f.mustRun(t, exitError, "send", "public.users", "7", "created")
	mustContain(t, stderr, "paused", "walhook resume")
	if got := len(f.sink.snapshot()); got != 0 {
		t.Fatalf("%d events delivered by refused sends", got)
	}
}

func TestPrimaryKeyConversion(t *testing.T) {
	t.Parallel()
	pk := primaryKey{cols: []keyColumn{{name: "id", typ: "bigint", category: "N"}, {name: "ok", typ: "boolean", category: "B"}, {name: "code", typ: "text", category: "S"}}}
	good, err := pk.keyFor("t.x", map[string]any{"id": " 12", "ok": "true", "code": json.Number("7")})
	if err != nil {
		t.Fatal(err)
	}
	if good["id"] != json.Number("12") || good["ok"] != true || good["code"] != "7" {
		t.Fatalf("converted key %#v", good)
	}
	for _, bad := range []map[string]any{
		{"id": "1e", "ok": true, "code": "a"},
		{"id": 1.5, "ok": "yes", "code": "a"},
		{"id": 1, "ok": true, "code": nil},
		{"id": 1, "ok": true, "code": "a", "extra": 1},
		{"id": 1, "ok": true, "code": []any{1}},
	} {
		if _, err := pk.keyFor("t.x", bad); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

// FuzzSendKey feeds arbitrary KEY, --key and --context text through the
// argument parser and the primary-key mapping: they must never panic, and
// every refusal must be a usage error or a keyError.
func FuzzSendKey(f *testing.F) {
	for _, seed := range [][3]string{
		{"7", "", ""}, {"", `{"id": 7, "code": "a"}`, `{"by": "ops"}`}, {`{"id":1}`, "", "null"},
		{"x", `{"id": [1]}`, "[]"}, {"1e309", `{"id": null}`, `{"a":`}, {"", `{}`, ""},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	pk := primaryKey{cols: []keyColumn{{name: "id", typ: "bigint", category: "N"}, {name: "code", typ: "text", category: "S"}}}
	one := primaryKey{cols: []keyColumn{{name: "id", typ: "numeric", category: "N"}}}
	f.Fuzz(func(t *testing.T, key, keyJSON, ctxJSON string) {
		args := []string{"public.t", key, "created"}
		if key == "" {
			args = []string{"public.t", "created"}
		}
		sa, err := parseSendArgs(args, keyJSON, ctxJSON)
		if err != nil {
			var ue usageError
			if !errors.As(err, &ue) {
				t.Fatalf("parse error is not a usage error: %v", err)
			}
			return
		}
		for _, p := range []primaryKey{pk, one} {
			m, err := p.keyFor("public.t", sa.key)
			var ke *keyError
			if err != nil && !errors.As(err, &ke) {
				t.Fatalf("key error is not a keyError: %v", err)
			}
			if err == nil && len(m) != len(p.cols) {
				t.Fatalf("key %v for %d columns", m, len(p.cols))
			}
			if _, jerr := json.Marshal(m); err == nil && jerr != nil {
				t.Fatalf("key %#v does not encode: %v", m, jerr)
			}
		}
	})
}
