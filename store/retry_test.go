package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walhook/walhook/deliver"
)

// httpSender posts events like deliver.Client, without signing: one event
// is the body, several a JSON array; webhook-id is the first event's id.
type httpSender struct{ calls atomic.Int64 }

func (s *httpSender) Send(ctx context.Context, evs []*deliver.Event) []deliver.Attempt {
	s.calls.Add(1)
	body := evs[0].Body
	if len(evs) > 1 {
		parts := make([]json.RawMessage, len(evs))
		for i, e := range evs {
			parts[i] = e.Body
		}
		body, _ = json.Marshal(parts)
	}
	start := time.Now()
	a := deliver.Attempt{At: start}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, evs[0].Endpoint.URL, bytes.NewReader(body))
	req.Header.Set("webhook-id", evs[0].ID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.Error = err.Error()
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a.Status, a.ResponseBody = resp.StatusCode, string(b)
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			a.RetryAfter = time.Duration(secs) * time.Second
		}
		if !a.Success() {
			a.Error = "HTTP " + resp.Status
		}
	}
	a.Duration = time.Since(start)
	out := make([]deliver.Attempt, len(evs))
	for i, e := range evs {
		out[i] = a
		out[i].Event = e
	}
	return out
}

// receiver records what arrives. fail decides a response status per event
// id and the number of times it has arrived before (0 first).
type receiver struct {
	mu       sync.Mutex
	arrivals []string // event ids in arrival order (2xx only)
	posts    map[string]int
	inflight map[string]int
	maxConc  int
	fail     func(id string, n int) int
	delay    time.Duration
}

func newReceiver(t *testing.T, fail func(id string, n int) int) (*receiver, *httptest.Server) {
	r := &receiver{posts: map[string]int{}, inflight: map[string]int{}, fail: fail}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	n := r.posts[id]
	r.posts[id]++
	r.inflight[id]++
	r.maxConc = max(r.maxConc, r.inflight[id])
	r.mu.Unlock()
	if r.delay > 0 {
		time.Sleep(r.delay) // the receiver being slow, not synchronisation
	}
	status := http.StatusOK
	if r.fail != nil {
		status = r.fail(id, n)
	}
	r.mu.Lock()
	r.inflight[id]--
	if status < 300 {
		r.arrivals = append(r.arrivals, id)
	}
	r.mu.Unlock()
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "120")
	}
	w.WriteHeader(status)
}

func (r *receiver) delivered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.arrivals...)
}

// runRetries runs the worker until the test ends.
func runRetries(t *testing.T, db *DB, s Sender, o RetryOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := db.RunRetries(ctx, s, o); err != nil {
			t.Errorf("RunRetries: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// retrySubscriber adds a subscriber posting to url with a 1ms retry delay.
func retrySubscriber(t *testing.T, db *DB, name, url string, maxRetries int) (int64, int64) {
	t.Helper()
	subr, subs := addSubscriber(t, db, name, "public.users", url, "created")
	exec(t, db, `UPDATE {{schema}}.subscribers SET retry_delay_ms = 1, max_retries = $2, auto_disable_after_failures = 0 WHERE id = $1`, subr, maxRetries)
	return subr, subs[0]
}

func park(t *testing.T, db *DB, evs ...*deliver.Event) {
	t.Helper()
	ps := make([]deliver.Parked, len(evs))
	for i, e := range evs {
		ps[i] = deliver.Parked{Event: e, Attempts: 1, LastError: "HTTP 500", NextAttempt: time.Now()}
	}
	if err := db.Park(context.Background(), ps); err != nil {
		t.Fatalf("Park: %v", err)
	}
}

func queue(t *testing.T, db *DB) string {
	t.Helper()
	return scalar[string](t, db, `SELECT coalesce(string_agg(event_id || '=' || status || '/' || attempts, ',' ORDER BY seq), '') FROM {{schema}}.retry_queue`)
}

func TestParkIsIdempotentAndOrdered(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	subr, sub := retrySubscriber(t, db, "crm", "https://x.example.com/", 3)
	park(t, db, eventFor(subr, sub, "a", "row1"), eventFor(subr, sub, "b", "row1"), eventFor(subr, sub, "c", "row2"))
	park(t, db, eventFor(subr, sub, "b", "row1"), eventFor(subr, sub, "d", "row1")) // b again: ignored
	if got := queue(t, db); got != "a=pending/1,b=pending/1,c=pending/1,d=pending/1" {
		t.Fatalf("queue = %s", got)
	}
	if !db.HasParked(sub, "row1") || !db.HasParked(sub, "row2") || db.HasParked(sub, "row3") || db.HasParked(sub, "") {
		t.Fatal("HasParked wrong after Park")
	}
	// Another process sees them after a refresh.
	other := openDSN(t, dsnOf(t, db), "walhook", Options{})
	if other.HasParked(sub, "row1") {
		t.Fatal("fresh process knows parked rows before refreshing")
	}
	if err := other.RefreshParked(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !other.HasParked(sub, "row1") || other.HasParked(sub, "row3") {
		t.Fatal("HasParked wrong after RefreshParked")
	}
	err := db.Park(context.Background(), []deliver.Parked{{Event: &deliver.Event{ID: "x", Endpoint: &deliver.Endpoint{}}}})
	if err == nil {
		t.Fatal("Park of an event without subscription id: no error")
	}
}

func dsnOf(t *testing.T, db *DB) string {
	t.Helper()
	return db.pool.Config().ConnConfig.ConnString()
}

func TestRetryWorkerDeliversInRowOrder(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	// a1 fails twice before it succeeds; a2 and a3 (same row) must wait.
	rcv, srv := newReceiver(t, func(id string, n int) int {
		if id == "a1" && n < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	subr, sub := retrySubscriber(t, db, "crm", srv.URL, 5)
	park(t, db, eventFor(subr, sub, "a1", "row-a"), eventFor(subr, sub, "b1", "row-b"),
		eventFor(subr, sub, "a2", "row-a"), eventFor(subr, sub, "a3", "row-a"))
	runRetries(t, db, &httpSender{}, RetryOptions{Poll: 5 * time.Millisecond})
	eventually(t, "all delivered", func() bool { return queue(t, db) == "" })
	var order []string
	for _, id := range rcv.delivered() {
		if id[0] == 'a' {
			order = append(order, id)
		}
	}
	if fmt.Sprint(order) != "[a1 a2 a3]" {
		t.Fatalf("row-a delivered in order %v, want [a1 a2 a3]", order)
	}
	eventually(t, "rows forgotten by HasParked", func() bool {
		return !db.HasParked(sub, "row-a") && !db.HasParked(sub, "row-b")
	})
	if got := db.RecorderStats().Queued; got != 6 { // 3 for a1, 1 each for the others
		t.Errorf("attempts recorded = %d, want 6", got)
	}
}

func TestRetryWorkerReschedulesAndFails(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	_, srv := newReceiver(t, func(id string, n int) int {
		if id == "slow" {
			return http.StatusServiceUnavailable // with Retry-After: 120
		}
		return http.StatusInternalServerError
	})
	subr, sub := retrySubscriber(t, db, "crm", srv.URL, 2)
	park(t, db, eventFor(subr, sub, "slow", "r1"), eventFor(subr, sub, "bad", "r2"))
	runRetries(t, db, &httpSender{}, RetryOptions{Poll: 5 * time.Millisecond})
	// bad: parked after 1 attempt, max_retries 2 → 2 more, then failed.
	eventually(t, "bad exhausted", func() bool { return queue(t, db) == "slow=pending/2,bad=failed/3" })
	wait := scalar[float64](t, db, `SELECT extract(epoch FROM next_attempt_at - now()) FROM {{schema}}.retry_queue WHERE event_id = 'slow'`)
	if wait < 100 || wait > 125 {
		t.Errorf("slow is due in %.0fs, want about 120 (Retry-After)", wait)
	}
	if got := scalar[string](t, db, `SELECT last_error || '|' || last_status FROM {{schema}}.retry_queue WHERE event_id = 'bad'`); got != "HTTP 500 Internal Server Error|500" {
		t.Errorf("bad last error = %s", got)
	}
	eventually(t, "failed row forgotten by HasParked", func() bool { return !db.HasParked(sub, "r2") })
	n, err := db.Redeliver(context.Background(), RedeliverFilter{SubscriberID: subr})
	if err != nil || n != 1 {
		t.Fatalf("Redeliver = %d, %v; want 1", n, err)
	}
	if !db.HasParked(sub, "r2") {
		t.Error("redelivered row does not block its key")
	}
	eventually(t, "bad failed again", func() bool { return queue(t, db) == "slow=pending/2,bad=failed/3" })
}

func TestRetryWorkerPermanentFailure(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	subr, sub := retrySubscriber(t, db, "crm", "https://x.example.com/", 5)
	park(t, db, eventFor(subr, sub, "p", "r1"))
	s := senderFunc(func(_ context.Context, evs []*deliver.Event) []deliver.Attempt {
		return []deliver.Attempt{{Event: evs[0], Error: "refused by network policy", Permanent: true}}
	})
	runRetries(t, db, s, RetryOptions{Poll: 5 * time.Millisecond})
	eventually(t, "failed at once", func() bool { return queue(t, db) == "p=failed/2" })
}

type senderFunc func(context.Context, []*deliver.Event) []deliver.Attempt

func (f senderFunc) Send(ctx context.Context, evs []*deliver.Event) []deliver.Attempt {
	return f(ctx, evs)
}

func TestRetryWorkerUsesCurrentSettings(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	rcv, srv := newReceiver(t, nil)
	subr, sub := retrySubscriber(t, db, "crm", "https://old.example.com/", 3)
	ev := eventFor(subr, sub, "e", "r")
	park(t, db, ev)
	exec(t, db, `UPDATE {{schema}}.subscribers SET target_url = $2, batch_size = 10 WHERE id = $1`, subr, srv.URL)
	runRetries(t, db, &httpSender{}, RetryOptions{Poll: 5 * time.Millisecond})
	eventually(t, "delivered to the new URL", func() bool { return len(rcv.delivered()) == 1 })
}

func TestRetryWorkerBatchesPerSubscriber(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	_, srv := newReceiver(t, nil)
	subr, sub := retrySubscriber(t, db, "crm", srv.URL, 3)
	exec(t, db, `UPDATE {{schema}}.subscribers SET batch_size = 10 WHERE id = $1`, subr)
	var evs []*deliver.Event
	for i := range 25 {
		evs = append(evs, eventFor(subr, sub, fmt.Sprint("e", i), fmt.Sprint("row", i)))
	}
	park(t, db, evs...)
	s := &httpSender{}
	runRetries(t, db, s, RetryOptions{Poll: 5 * time.Millisecond})
	eventually(t, "all delivered", func() bool { return queue(t, db) == "" })
	if got := s.calls.Load(); got != 3 {
		t.Errorf("requests = %d, want 3 (batches of 10)", got)
	}
}

func TestTwoWorkersNeverPostOneRowAtOnce(t *testing.T) {
	t.Parallel()
	db, dsn := openDB(t, Options{WorkerID: "w1"})
	db2 := openDSN(t, dsn, "walhook", Options{WorkerID: "w2"})
	rcv, srv := newReceiver(t, func(id string, n int) int {
		if n == 0 && len(id)%3 == 0 {
			return http.StatusBadGateway // some fail once
		}
		return http.StatusOK
	})
	rcv.delay = 2 * time.Millisecond
	subr, sub := retrySubscriber(t, db, "crm", srv.URL, 5)
	exec(t, db, `UPDATE {{schema}}.subscribers SET unordered = true WHERE id = $1`, subr)
	var evs []*deliver.Event
	for i := range 300 {
		evs = append(evs, eventFor(subr, sub, fmt.Sprint("ev", i), ""))
	}
	park(t, db, evs...)
	o := RetryOptions{Poll: time.Millisecond, Batch: 7, Concurrency: 4}
	runRetries(t, db, &httpSender{}, o)
	runRetries(t, db2, &httpSender{}, o)
	eventually(t, "all delivered", func() bool { return queue(t, db) == "" })
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.maxConc != 1 {
		t.Fatalf("an event was posted %d times at once", rcv.maxConc)
	}
	for id, n := range rcv.posts {
		want := 1
		if len(id)%3 == 0 {
			want = 2
		}
		if n != want {
			t.Errorf("%s posted %d times, want %d", id, n, want)
		}
	}
}

func TestHoldAndRelease(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	ctx := context.Background()
	rcv, srv := newReceiver(t, nil)
	subr, sub := retrySubscriber(t, db, "crm", srv.URL, 3)
	if err := db.SetPause(ctx, true, "hold", "test"); err != nil {
		t.Fatal(err)
	}
	held := []deliver.Parked{{Event: eventFor(subr, sub, "h1", "r")}, {Event: eventFor(subr, sub, "h2", "r")}}
	if err := db.Hold(ctx, held); err != nil {
		t.Fatal(err)
	}
	if err := db.Hold(ctx, held[:1]); err != nil { // routed again after a reconnect
		t.Fatal(err)
	}
	if !db.HasParked(sub, "r") {
		t.Error("held rows do not block their key")
	}
	runRetries(t, db, &httpSender{}, RetryOptions{Poll: 5 * time.Millisecond, Refresh: 10 * time.Millisecond})
	eventually(t, "a few worker rounds", func() bool { return db.retryRounds.Load() >= 5 })
	if rcvCount(rcv) != 0 {
		t.Fatal("held rows were posted while paused")
	}
	if got := queue(t, db); got != "h1=held/0,h2=held/0" {
		t.Fatalf("queue while paused = %s", got)
	}
	n, err := db.ReleaseHeld(ctx)
	if err != nil || n != 2 {
		t.Fatalf("ReleaseHeld = %d, %v", n, err)
	}
	eventually(t, "held rows delivered", func() bool { return len(rcv.delivered()) == 2 })
	if got := fmt.Sprint(rcv.delivered()); got != "[h1 h2]" {
		t.Errorf("order = %s", got)
	}
}

func rcvCount(r *receiver) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.posts)
}

func TestHeldRowsReleasedAfterResume(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	ctx := context.Background()
	rcv, srv := newReceiver(t, nil)
	subr, sub := retrySubscriber(t, db, "crm", srv.URL, 3)
	if err := db.SetPause(ctx, true, "hold", "test"); err != nil {
		t.Fatal(err)
	}
	if err := db.Hold(ctx, []deliver.Parked{{Event: eventFor(subr, sub, "h1", "r")}}); err != nil {
		t.Fatal(err)
	}
	runRetries(t, db, &httpSender{}, RetryOptions{Poll: 5 * time.Millisecond, Refresh: 10 * time.Millisecond})
	// A router behind the resume point in the WAL may hold events after
	// the operator resumed: the worker releases them by itself.
	if err := db.SetPause(ctx, false, "", "test"); err != nil {
		t.Fatal(err)
	}
	if err := db.Hold(ctx, []deliver.Parked{{Event: eventFor(subr, sub, "h2", "r")}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "held rows released and delivered", func() bool { return len(rcv.delivered()) == 2 })
	if got := fmt.Sprint(rcv.delivered()); got != "[h1 h2]" {
		t.Errorf("order = %s", got)
	}
}

func TestFlakyReceiverGetsEverythingAndCountersMatch(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{FlushInterval: 5 * time.Millisecond})
	// Fails 30% of requests, decided by a hash of (event, attempt): seeded
	// and independent of scheduling.
	rcv, srv := newReceiver(t, func(id string, n int) int {
		h := uint32(2166136261)
		for _, c := range fmt.Sprint(id, "/", n) {
			h = (h ^ uint32(c)) * 16777619
		}
		if h%100 < 30 {
			return http.StatusServiceUnavailable - 1 // 502: no Retry-After
		}
		return http.StatusOK
	})
	subr, sub := retrySubscriber(t, db, "crm", srv.URL, 20)
	const n = 400
	var evs []*deliver.Event
	for i := range n {
		evs = append(evs, eventFor(subr, sub, fmt.Sprint("ev", i), fmt.Sprint("row", i%40)))
	}
	ps := make([]deliver.Parked, n)
	for i, e := range evs {
		ps[i] = deliver.Parked{Event: e, NextAttempt: time.Now()}
	}
	if err := db.Park(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	recDone := make(chan error, 1)
	go func() { recDone <- db.RunRecorder(ctx) }()
	runRetries(t, db, &httpSender{}, RetryOptions{Poll: time.Millisecond, Concurrency: 8})
	eventually(t, "all delivered", func() bool { return queue(t, db) == "" })
	cancel()
	if err := <-recDone; err != nil {
		t.Fatal(err)
	}

	rcv.mu.Lock()
	posts := 0
	for _, c := range rcv.posts {
		posts += c
	}
	delivered := len(rcv.arrivals)
	rcv.mu.Unlock()
	if delivered != n {
		t.Fatalf("delivered %d events, want %d", delivered, n)
	}
	if ratio := float64(posts) / n; ratio < 1.25 || ratio > 1.65 {
		t.Errorf("attempts per event = %.2f, want about 1/(1-0.3) = 1.43", ratio)
	}
	got := scalar[string](t, db, `SELECT concat_ws(',', total_deliveries, successful_deliveries, failed_deliveries) FROM {{schema}}.subscribers_v WHERE id = $1`, subr)
	if want := fmt.Sprintf("%d,%d,%d", posts, n, posts-n); got != want {
		t.Errorf("counters = %s, receiver saw total,ok,failed = %s", got, want)
	}
	if got := scalar[int](t, db, `SELECT count(*) FROM {{schema}}.delivery_log`); got != posts {
		t.Errorf("delivery_log rows = %d, receiver saw %d requests", got, posts)
	}
	if got := scalar[int](t, db, `SELECT count(*) FROM {{schema}}.delivery_log_v WHERE is_success`); got != n {
		t.Errorf("successful log rows = %d, want %d", got, n)
	}
}

func TestTwoWorkersKeepRowOrder(t *testing.T) {
	t.Parallel()
	db, dsn := openDB(t, Options{WorkerID: "w1"})
	db2 := openDSN(t, dsn, "walhook", Options{WorkerID: "w2"})
	rcv, srv := newReceiver(t, func(id string, n int) int {
		if n == 0 && len(id)%2 == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	subr, sub := retrySubscriber(t, db, "crm", srv.URL, 5)
	const keys, per = 15, 8
	var evs []*deliver.Event
	for i := range per {
		for k := range keys {
			evs = append(evs, eventFor(subr, sub, fmt.Sprintf("k%02d-%d", k, i), fmt.Sprint("row", k)))
		}
	}
	park(t, db, evs...)
	o := RetryOptions{Poll: time.Millisecond, Batch: 5, Concurrency: 4}
	runRetries(t, db, &httpSender{}, o)
	runRetries(t, db2, &httpSender{}, o)
	eventually(t, "all delivered", func() bool { return queue(t, db) == "" })
	last := map[string]int{}
	for _, id := range rcv.delivered() {
		var k, i int
		fmt.Sscanf(id, "k%d-%d", &k, &i)
		key := fmt.Sprint(k)
		prev, ok := last[key]
		if !ok {
			prev = -1
		}
		if i != prev+1 {
			t.Fatalf("row %d: event %d arrived after %d", k, i, prev)
		}
		last[key] = i
	}
	if len(last) != keys {
		t.Fatalf("rows delivered = %d, want %d", len(last), keys)
	}
}

// TestRetryWorkerStopsExactlyAtAutoDisable: through a Gate (the
// dispatcher's probe mode), a failing endpoint gets one request at a
// time, so with auto_disable_after_failures 3 it receives exactly 3; the
// rows claimed with them are put back as 'disabled', never posted.
func TestRetryWorkerStopsExactlyAtAutoDisable(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	rcv, srv := newReceiver(t, func(string, int) int { return http.StatusInternalServerError })
	rcv.delay = 2 * time.Millisecond
	subr, sub := retrySubscriber(t, db, "fragile", srv.URL, 100)
	exec(t, db, `UPDATE {{schema}}.subscribers SET auto_disable_after_failures = 3 WHERE id = $1`, subr)
	var evs []*deliver.Event
	for i := range 10 {
		evs = append(evs, eventFor(subr, sub, fmt.Sprint("e", i), fmt.Sprint("row", i)))
	}
	park(t, db, evs...)
	gate, err := deliver.NewDispatcher(deliver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	recDone := make(chan error, 1)
	go func() { recDone <- db.RunRecorder(ctx) }()
	t.Cleanup(func() { cancel(); <-recDone })
	runRetries(t, db, &httpSender{}, RetryOptions{Poll: time.Millisecond, Concurrency: 8, Gate: gate})
	eventually(t, "every row disabled", func() bool {
		return scalar[int](t, db, `SELECT count(*) FROM {{schema}}.retry_queue WHERE status = 'disabled'`) == 10
	})
	rounds := db.retryRounds.Load()
	eventually(t, "more worker rounds", func() bool { return db.retryRounds.Load() >= rounds+5 })
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	posts := 0
	for _, c := range rcv.posts {
		posts += c
	}
	if posts != 3 {
		t.Errorf("%d requests reached the endpoint, want exactly 3 (auto_disable_after_failures)", posts)
	}
	if active := scalar[bool](t, db, `SELECT is_active FROM {{schema}}.subscribers WHERE id = $1`, subr); active {
		t.Error("subscriber still active")
	}
}
