package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/deliver"
)

// hookReq is one request a hookRecv answered.
type hookReq struct {
	ID      string // event id (body "id", equal to webhook-id)
	Path    string
	Event   string
	Row     int64 // data.id
	V       int64 // data.v
	Attempt int   // requests for this event id so far, this one included
	Status  int   // what the receiver answered
}

// hookRecv is a verifying receiver for the state tests: unlike sink it
// records every request, failed ones included, counts attempts per event
// id and flags two requests for one event id in flight at once.
type hookRecv struct {
	t       testing.TB
	srv     *httptest.Server
	latency time.Duration // simulated work per request (widens overlaps)

	mu       sync.Mutex
	status   func(r *hookReq) int // nil: 204
	reqs     []hookReq
	tries    map[string]int
	inflight map[string]int
	overlaps []string
	bad      []string
}

func newHookRecv(t testing.TB) *hookRecv {
	r := &hookRecv{t: t, tries: map[string]int{}, inflight: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// setStatus replaces the answer function (nil: always 204).
func (r *hookRecv) setStatus(f func(*hookReq) int) {
	r.mu.Lock()
	r.status = f
	r.mu.Unlock()
}

func (r *hookRecv) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if err := deliver.Verify([]string{testSecret}, req.Header, body, time.Minute); err != nil {
		r.fail("signature: " + err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev struct {
		ID    string `json:"id"`
		Event string `json:"event"`
		Data  struct {
			ID int64 `json:"id"`
			V  int64 `json:"v"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		r.fail("bad JSON: " + err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if h := req.Header.Get("webhook-id"); h != ev.ID {
		r.fail(fmt.Sprintf("webhook-id %q differs from body id %q", h, ev.ID))
	}
	hr := hookReq{ID: ev.ID, Path: req.URL.Path, Event: ev.Event, Row: ev.Data.ID, V: ev.Data.V}
	r.mu.Lock()
	r.tries[hr.ID]++
	hr.Attempt = r.tries[hr.ID]
	r.inflight[hr.ID]++
	if r.inflight[hr.ID] > 1 {
		r.overlaps = append(r.overlaps, fmt.Sprintf("%s (row %d, attempt %d)", hr.ID, hr.Row, hr.Attempt))
	}
	hr.Status = http.StatusNoContent
	if r.status != nil {
		hr.Status = r.status(&hr)
	}
	r.mu.Unlock()
	if r.latency > 0 {
		time.Sleep(r.latency) // simulated work, not synchronisation
	}
	r.mu.Lock()
	r.inflight[hr.ID]--
	r.reqs = append(r.reqs, hr)
	r.mu.Unlock()
	w.WriteHeader(hr.Status)
}

func (r *hookRecv) fail(msg string) {
	r.mu.Lock()
	r.bad = append(r.bad, msg)
	r.mu.Unlock()
}

// requests returns every request answered so far, in answer order.
func (r *hookRecv) requests() []hookReq {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookReq(nil), r.reqs...)
}

// check fails the test on bad requests or overlapping posts.
func (r *hookRecv) check() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		r.t.Errorf("receiver got %d bad requests, first: %s", len(r.bad), r.bad[0])
	}
	if len(r.overlaps) > 0 {
		r.t.Errorf("one event was posted twice at once %d times, first: %s", len(r.overlaps), r.overlaps[0])
	}
}

// delivered returns, per row id, the requests answered 2xx that match keep.
func (r *hookRecv) delivered(keep func(*hookReq) bool) map[int64][]hookReq {
	out := map[int64][]hookReq{}
	for _, q := range r.requests() {
		if q.Status >= 200 && q.Status < 300 && (keep == nil || keep(&q)) {
			out[q.Row] = append(out[q.Row], q)
		}
	}
	return out
}

// waitRows waits until every row in want has a 2xx request matching keep.
func (r *hookRecv) waitRows(keep func(*hookReq) bool, want []int64, timeout time.Duration) map[int64][]hookReq {
	r.t.Helper()
	var got map[int64][]hookReq
	waitUntil(r.t, timeout, func() string {
		got = r.delivered(keep)
		var missing []int64
		for _, id := range want {
			if len(got[id]) == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return ""
		}
		n := len(want) - len(missing)
		if len(missing) > 10 {
			missing = missing[:10]
		}
		return fmt.Sprintf("%d of %d rows delivered; first missing %v", n, len(want), missing)
	})
	return got
}

// waitUntil polls cond until it returns "" or timeout passes; then it
// fails with cond's last answer.
func waitUntil(t testing.TB, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, msg)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// rowRange returns from..to.
func rowRange(from, to int64) []int64 {
	out := make([]int64, 0, to-from+1)
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// rowIDs returns the sorted keys of m.
func rowIDs(m map[int64][]hookReq) []int64 {
	out := make([]int64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// queryInt returns the single integer query yields.
func queryInt(t testing.TB, dsn, query string) int64 {
	t.Helper()
	var n int64
	pgtestQuery(t, dsn, query, &n)
	return n
}

// queryRows runs query and returns each row's values.
func queryRows(t testing.TB, dsn, query string, args ...any) [][]any {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	fatalIf(t, err, "connect")
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, query, args...)
	fatalIf(t, err, "query %q", query)
	var out [][]any
	for rows.Next() {
		v, err := rows.Values()
		fatalIf(t, err, "scan %q", query)
		out = append(out, v)
	}
	fatalIf(t, rows.Err(), "query %q", query)
	return out
}

// insertItems inserts rows from..to into public.items (v = 0), per
// transaction at most perTx rows.
func insertItems(t testing.TB, dsn string, from, to, perTx int64) {
	t.Helper()
	var stmts []string
	for i := from; i <= to; i += perTx {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO items SELECT g, 0 FROM generate_series(%d, %d) g`, i, min(i+perTx-1, to)))
	}
	execSQL(t, dsn, stmts...)
}

// walhookProc is walhook running as its own process.
type walhookProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startWalhookProc runs `walhook run --config cfgPath`, logging to logf,
// and stops it (SIGTERM) when the test ends unless it already exited.
func startWalhookProc(t testing.TB, bin, cfgPath string, logf *os.File) *walhookProc {
	t.Helper()
	cmd := exec.Command(bin, "run", "--config", cfgPath, "--log-level", "info")
	cmd.Stdout, cmd.Stderr = logf, logf
	fatalIf(t, cmd.Start(), "start walhook")
	p := &walhookProc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(syscall.SIGTERM) })
	return p
}

// stop sends sig and waits for the process to exit.
func (p *walhookProc) stop(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// writeProcConfig writes yaml (with ${DSN}, ${URL}, ${SECRET} and ${SLOT}
// replaced) to a file and returns its path and a log file.
func writeProcConfig(t testing.TB, yaml, dsn, url string) (cfgPath string, logf *os.File) {
	t.Helper()
	dir := t.TempDir()
	cfgPath = filepath.Join(dir, "walhook.yaml")
	yaml = strings.NewReplacer("${DSN}", dsn, "${URL}", url, "${SECRET}", testSecret, "${SLOT}", testSlot(dsn)).Replace(yaml)
	fatalIf(t, os.WriteFile(cfgPath, []byte(yaml), 0o600), "write config")
	logf, err := os.Create(filepath.Join(dir, "walhook.log"))
	fatalIf(t, err, "create log")
	t.Cleanup(func() { logf.Close() })
	return cfgPath, logf
}

// logTail returns the end of a process log, for failure messages.
func logTail(f *os.File) string {
	b, _ := os.ReadFile(f.Name())
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}
