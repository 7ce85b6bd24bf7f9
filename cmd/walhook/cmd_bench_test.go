package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/deliver"
	"github.com/walhook/walhook/internal/pgtest"
)

// TestBenchCommand runs `walhook bench` on small bursts against a fresh
// database and checks that the JSON report is sane: every event arrived
// once, percentiles are ordered, rates are positive, and the bench's slot
// is gone afterwards. The second case builds a backlog while walhook is
// stopped and drains it in batches, with updates; the third runs with the
// delivery log UNLOGGED (logs.unlogged).
func TestBenchCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		args  []string
		event string
	}{
		{"burst", nil, "created"},
		{"backlog batched updates", []string{"--backlog", "--batch-size", "10", "--event", "updated", "--repeat", "2"}, "updated"},
		{"unlogged delivery log", []string{"--delivery-log", "unlogged"}, "created"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep := runBenchJSON(t, tc.args...)
			checkBenchReport(t, rep, tc.event)
			if want := map[bool]string{true: "unlogged", false: "on"}[tc.name == "unlogged delivery log"]; rep.Workload.DeliveryLogMode != want || !rep.Workload.DeliveryLog {
				t.Errorf("workload delivery log %v, mode %q; want on, %q", rep.Workload.DeliveryLog, rep.Workload.DeliveryLogMode, want)
			}
		})
	}
}

// runBenchJSON runs walhook bench with 200 rows against a fresh database
// and returns its JSON report.
func runBenchJSON(t *testing.T, extra ...string) benchReport {
	t.Helper()
	dsn := pgtest.NewDB(t)
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"bench", "--dsn", dsn, "--object-count", "200", "--tx-size", "20",
		"--warmup=20", "--receiver-in-process", "--json", "--timeout", "30s", "--log-level", "error"}, extra...))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("walhook bench: %v\n%s", err, errOut.String())
	}
	var rep benchReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	// The bench's slot is gone again: it must not hold WAL after the run.
	var slots int
	pgtestQuery(t, dsn, `SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'walhook_bench%' AND database = current_database()`, &slots)
	if slots != 0 {
		t.Errorf("bench left its replication slot behind")
	}
	return rep
}

func checkBenchReport(t *testing.T, rep benchReport, event string) {
	t.Helper()
	m := rep.Median
	if len(rep.Runs) != rep.Workload.Repeat || m.Delivered != 200 || m.Missing != 0 || m.Expected != 200 {
		t.Fatalf("runs %d, delivered %d of %d, missing %d; want %d runs, 200 of 200", len(rep.Runs), m.Delivered, m.Expected, m.Missing, rep.Workload.Repeat)
	}
	if !(0 < m.LatencyP50MS && m.LatencyP50MS <= m.LatencyP95MS && m.LatencyP95MS <= m.LatencyP99MS && m.LatencyP99MS <= m.LatencyMaxMS) {
		t.Errorf("latency percentiles out of order: p50 %v p95 %v p99 %v max %v", m.LatencyP50MS, m.LatencyP95MS, m.LatencyP99MS, m.LatencyMaxMS)
	}
	if m.SendPerSec <= 0 || m.DeliveredPerSec <= 0 || m.CPUSeconds <= 0 || m.PeakRSSMB <= 0 {
		t.Errorf("rates and resources must be positive: %+v", m)
	}
	if m.SuccessRate != 1 || m.Requests < 1 || m.MaxInFlight < 1 {
		t.Errorf("requests %d, success rate %v, max in flight %d", m.Requests, m.SuccessRate, m.MaxInFlight)
	}
	if rep.Workload.Rows != 200 || rep.Workload.Event != event || !rep.Workload.DeliveryLog {
		t.Errorf("workload %+v", rep.Workload)
	}
}

// TestBenchRefusesForeignTable checks that bench never empties a table it
// did not create.
func TestBenchRefusesForeignTable(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, `CREATE TABLE public.orders (id bigint PRIMARY KEY)`)
	root := newRootCmd()
	root.SetOut(&bytes.Buffer{})
	root.SetArgs([]string{"bench", "--dsn", dsn, "--table", "orders", "--object-count", "10", "--receiver-in-process"})
	err := root.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "was not created by walhook bench") {
		t.Fatalf("want a refusal naming the table, got %v", err)
	}
	if !errors.As(err, new(usageError)) {
		t.Errorf("want a usage error, got %T", err)
	}
}

// TestBenchFlagErrors checks each bad option gets a message saying what
// to write.
func TestBenchFlagErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--event", "creatd"}, `--event "creatd": write created, updated or deleted`},
		{[]string{"--fail-rate", "1.5"}, "--fail-rate 1.5: write a share from 0"},
		{[]string{"--delivery-log", "maybe"}, `--delivery-log "maybe": write on, off, unlogged or failures`},
		{[]string{"--tx-size", "0"}, "must be at least 1"},
	} {
		root := newRootCmd()
		root.SetArgs(append([]string{"bench"}, tc.args...))
		err := root.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestBenchReceiver checks the receiver's bookkeeping: signatures
// verified, batches unpacked, duplicates counted, failures injected evenly.
func TestBenchReceiver(t *testing.T) {
	t.Parallel()
	rc := newBenchReceiver([]string{testSecret}, 0.25)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	at := time.Now().Add(-5 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	post := func(id, body string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks", strings.NewReader(body))
		sig, err := deliver.Sign(testSecret, id, time.Now(), []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
		req.Header.Set("webhook-signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var codes []int
	codes = append(codes, post("evt_1", `{"id":"evt_1","occurred_at":"`+at+`"}`))
	codes = append(codes, post("b1", `{"type":"batch","id":"b1","events":[{"id":"evt_2","occurred_at":"`+at+`"},{"id":"evt_3","occurred_at":"`+at+`"}]}`))
	codes = append(codes, post("evt_1", `{"id":"evt_1","occurred_at":"`+at+`"}`))
	codes = append(codes, post("evt_4", `{"id":"evt_4","occurred_at":"`+at+`"}`)) // the 4th request: injected 503
	st := rc.Stats(true)
	if want := []int{204, 204, 204, 503}; !equalInts(codes, want) {
		t.Errorf("statuses %v, want %v", codes, want)
	}
	if st.Unique != 3 || st.Duplicates != 1 || st.Requests != 4 || st.Events != 4 {
		t.Errorf("unique %d dups %d requests %d events %d; want 3 1 4 4", st.Unique, st.Duplicates, st.Requests, st.Events)
	}
	for _, us := range st.LatenciesUS {
		if us < 5000 || us > 10_000_000 {
			t.Errorf("latency %dµs, want at least the 5ms the events are old", us)
		}
	}
	bad := httptest.NewRecorder()
	rc.ServeHTTP(bad, httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(`{}`)))
	if bad.Code != http.StatusUnauthorized {
		t.Errorf("unsigned request: status %d, want 401", bad.Code)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPercentileAndMedian checks the report's arithmetic.
func TestPercentileAndMedian(t *testing.T) {
	t.Parallel()
	v := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want int64
	}{{50, 5}, {95, 10}, {99, 10}, {10, 1}, {100, 10}} {
		if got := percentile(v, tc.p); got != tc.want {
			t.Errorf("p%v = %d, want %d", tc.p, got, tc.want)
		}
	}
	m := medianRun([]benchRun{
		{DeliveredPerSec: 10, LatencyP99MS: 3, Missing: 0},
		{DeliveredPerSec: 30, LatencyP99MS: 1, Missing: 2},
		{DeliveredPerSec: 20, LatencyP99MS: 2, Missing: 0},
	})
	if m.DeliveredPerSec != 20 || m.LatencyP99MS != 2 || m.Missing != 2 {
		t.Errorf("median %+v: want 20/s, p99 2, the worst run's missing 2", m)
	}
}

// BenchmarkPipeline measures walhook end to end in this process: b.N rows
// inserted in 100-row transactions into a fresh database, decoded,
// routed, signed and posted to an in-process receiver, with the delivery
// log on. Run it with -cpuprofile to profile the whole path, e.g.
//
//	go test -run '^$' -bench Pipeline -benchtime 20000x -cpuprofile cpu.out ./cmd/walhook
func BenchmarkPipeline(b *testing.B) {
	for _, batch := range []int{1, 50} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			f := &benchFlags{
				dsn: pgtest.NewDB(b), table: "public.walhook_bench", event: "created",
				objectCount: b.N, batches: 1, repeat: 1, concurrency: 16, txSize: 100, batchSize: batch,
				measure: true, timeout: 2 * time.Minute, deliveryLog: "on", inProcessRecv: true,
			}
			if err := f.check(); err != nil {
				b.Fatal(err)
			}
			g := &globalFlags{logLevel: "error", logFormat: "console"}
			lg, err := g.newLogging(testWriter{b})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			rep, err := benchMeasure(context.Background(), f, lg)
			b.StopTimer()
			if err != nil || rep.Median.Missing > 0 {
				b.Fatalf("bench: %v (report %+v)", err, rep)
			}
			b.ReportMetric(rep.Median.DeliveredPerSec, "events/s")
			b.ReportMetric(rep.Median.LatencyP99MS, "p99-ms")
			b.ReportMetric(rep.Median.CPUSecondsPer100k, "cpu-s/100k")
		})
	}
}
