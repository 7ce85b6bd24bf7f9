package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/walhook/walhook/deliver"
)

// write writes attempts as one batch, synchronously.
func write(t *testing.T, db *DB, atts ...deliver.Attempt) {
	t.Helper()
	suspended, err := db.writeAttempts(context.Background(), atts)
	if err != nil {
		t.Fatalf("writeAttempts: %v", err)
	}
	db.written(len(atts), suspended)
}

func TestRecorderCounters(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	subr, subs := addSubscriber(t, db, "crm", "public.users", "https://x.example.com/", "created", "updated")
	ev1, ev2 := eventFor(subr, subs[0], "e1", "k"), eventFor(subr, subs[1], "e2", "k")

	write(t, db, attempt(ev1, 200), attempt(ev1, 500), attempt(ev2, 503))
	got := scalar[string](t, db, `SELECT concat_ws(',', total_deliveries, successful_deliveries, failed_deliveries, consecutive_failures, success_rate, health)
FROM {{schema}}.subscribers_v WHERE id = $1`, subr)
	if got != "3,1,2,2,33.33,warning" {
		t.Errorf("subscriber counters = %s", got)
	}
	got = scalar[string](t, db, `SELECT concat_ws(',', total_deliveries, successful_deliveries, failed_deliveries, consecutive_failures, last_response_status, success_rate)
FROM {{schema}}.subscriptions_v WHERE id = $1`, subs[0])
	if got != "2,1,1,1,500,50.00" {
		t.Errorf("subscription counters = %s", got)
	}

	// A later success resets the streaks; failures before it in the same
	// batch do not count.
	write(t, db, attempt(ev1, 500), attempt(ev1, 204))
	got = scalar[string](t, db, `SELECT concat_ws(',', total_deliveries, consecutive_failures, last_success_at IS NOT NULL, last_failure_at IS NOT NULL)
FROM {{schema}}.subscribers_v WHERE id = $1`, subr)
	if got != "5,0,t,t" {
		t.Errorf("after success: %s", got)
	}
	if n := scalar[int](t, db, `SELECT count(*) FROM {{schema}}.delivery_log WHERE subscriber_id = $1`, subr); n != 5 {
		t.Errorf("delivery_log rows = %d, want 5", n)
	}
}

func TestRecorderAutoDisablesAfterConsecutiveFailures(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	subr, subs := addSubscriber(t, db, "crm", "public.users", "https://x.example.com/", "created") // threshold 3
	ev := eventFor(subr, subs[0], "e1", "k")
	write(t, db, attempt(ev, 500), attempt(ev, 500))
	if !scalar[bool](t, db, `SELECT is_active FROM {{schema}}.subscribers WHERE id = $1`, subr) {
		t.Fatal("disabled after 2 failures, threshold is 3")
	}
	if db.HasParked(subs[0], "other") {
		t.Fatal("HasParked true before auto-disable")
	}
	write(t, db, attempt(ev, 0))
	got := scalar[string](t, db, `SELECT concat_ws(',', is_active, disabled_reason, auto_disabled_at IS NOT NULL, health) FROM {{schema}}.subscribers_v WHERE id = $1`, subr)
	if got != "f,3 consecutive failures,t,critical" {
		t.Fatalf("after 3 failures: %s", got)
	}
	if !db.HasParked(subs[0], "any") || !db.HasParked(subs[0], "") {
		t.Error("HasParked false for an auto-disabled subscriber: its events would be tried")
	}
}

func TestRecorderAutoDisablesOnGone(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	subr, subs := addSubscriber(t, db, "crm", "public.users", "https://x.example.com/", "created")
	ev := eventFor(subr, subs[0], "e1", "k")
	write(t, db, attempt(ev, 410))
	got := scalar[string](t, db, `SELECT is_active || ',' || disabled_reason FROM {{schema}}.subscribers WHERE id = $1`, subr)
	if got != "false,endpoint answered 410 Gone" {
		t.Fatalf("after 410: %s", got)
	}
}

func TestRecorderNeverDisablesWhenThresholdZero(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	subr, subs := addSubscriber(t, db, "crm", "public.users", "https://x.example.com/", "created")
	exec(t, db, `UPDATE {{schema}}.subscribers SET auto_disable_after_failures = 0 WHERE id = $1`, subr)
	ev := eventFor(subr, subs[0], "e1", "k")
	for range 5 {
		write(t, db, attempt(ev, 500))
	}
	if !scalar[bool](t, db, `SELECT is_active FROM {{schema}}.subscribers WHERE id = $1`, subr) {
		t.Fatal("auto-disabled although auto_disable_after_failures = 0")
	}
}

func TestReenableResetsStreakAndReleasesHeldRows(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	ctx := context.Background()
	subr, subs := addSubscriber(t, db, "crm", "public.users", "https://x.example.com/", "created")
	ev := eventFor(subr, subs[0], "e1", "row1")
	if err := db.Park(ctx, []deliver.Parked{{Event: ev, Attempts: 1}}); err != nil {
		t.Fatal(err)
	}
	write(t, db, attempt(ev, 410))
	// Events parked while disabled are stored as 'disabled'.
	if err := db.Park(ctx, []deliver.Parked{{Event: eventFor(subr, subs[0], "e2", "row2")}}); err != nil {
		t.Fatal(err)
	}
	if got := scalar[string](t, db, `SELECT string_agg(event_id || '=' || status, ',' ORDER BY seq) FROM {{schema}}.retry_queue`); got != "e1=disabled,e2=disabled" {
		t.Fatalf("queue while disabled: %s", got)
	}
	if err := db.SetSubscriberActive(ctx, subr, true); err != nil {
		t.Fatal(err)
	}
	got := scalar[string](t, db, `SELECT concat_ws(',', is_active, disabled_reason IS NULL, auto_disabled_at IS NULL, consecutive_failures) FROM {{schema}}.subscribers_v WHERE id = $1`, subr)
	if got != "t,t,t,0" {
		t.Errorf("after re-enable: %s", got)
	}
	if got := scalar[string](t, db, `SELECT string_agg(status, ',') FROM {{schema}}.retry_queue`); got != "pending,pending" {
		t.Errorf("queue after re-enable: %s", got)
	}
	if db.HasParked(subs[0], "elsewhere") {
		t.Error("HasParked still true for other rows after re-enable")
	}
	if !db.HasParked(subs[0], "row1") {
		t.Error("HasParked false for a row still parked")
	}
	if err := db.SetSubscriberActive(ctx, 999999, true); err == nil {
		t.Error("SetSubscriberActive of an unknown id: no error")
	}
}

func TestDeliveryLogRows(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{MaxLoggedBody: 10})
	subr, subs := addSubscriber(t, db, "crm", "public.users", "https://x.example.com/", "created")
	ev := eventFor(subr, subs[0], "e1", "k")
	ok := attempt(ev, 201)
	ok.ResponseBody = "ééééééé-long" // 2-byte runes: the cut lands mid-rune
	bad := attempt(ev, 404)
	bad.Number = 2
	bad.ResponseBody = "a\x00b\xffc"
	none := attempt(ev, 0)
	none.Error = "dial tcp: connection refused"
	write(t, db, ok, bad, none)

	rows, err := db.pool.Query(context.Background(), db.render(`SELECT attempt_number, coalesce(response_status, 0), coalesce(response_body, ''),
    coalesce(error_message, ''), is_success, is_client_error, is_server_error, request_payload, event_id, subscription_id
FROM {{schema}}.delivery_log_v ORDER BY id`))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type logRow struct {
		n, status               int
		body, errMsg            string
		success, client, server bool
		payload, eventID        string
		subscription            int64
	}
	var got []logRow
	for rows.Next() {
		var r logRow
		if err := rows.Scan(&r.n, &r.status, &r.body, &r.errMsg, &r.success, &r.client, &r.server, &r.payload, &r.eventID, &r.subscription); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if len(got) != 3 {
		t.Fatalf("rows = %d, want 3", len(got))
	}
	if b := got[0].body; len(b) > 10 || !utf8.ValidString(b) || !strings.HasPrefix(b, "éé") {
		t.Errorf("truncated body = %q", b)
	}
	if !got[0].success || got[0].client || got[0].status != 201 || got[0].payload != `{"id":"e1"}` || got[0].subscription != subs[0] {
		t.Errorf("success row = %+v", got[0])
	}
	if got[1].n != 2 || !got[1].client || got[1].success || got[1].body != "ab\uFFFDc" {
		t.Errorf("client error row = %+v", got[1])
	}
	if got[2].status != 0 || got[2].errMsg != "dial tcp: connection refused" || got[2].server || got[2].client {
		t.Errorf("no-response row = %+v", got[2])
	}
}

func TestDeliveryLogCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{DisableDeliveryLog: true})
	subr, subs := addSubscriber(t, db, "crm", "public.users", "https://x.example.com/", "created")
	write(t, db, attempt(eventFor(subr, subs[0], "e1", "k"), 200))
	if n := scalar[int](t, db, `SELECT count(*) FROM {{schema}}.delivery_log`); n != 0 {
		t.Errorf("delivery_log rows = %d, want 0", n)
	}
	if n := scalar[int](t, db, `SELECT total_deliveries FROM {{schema}}.subscribers_v WHERE id = $1`, subr); n != 1 {
		t.Errorf("counters not kept with the log off: total = %d", n)
	}
}

func TestRunRecorderWritesEverythingAndStops(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{RecorderBuffer: 8, FlushRows: 50, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	subr, subs := addSubscriber(t, db, "crm", "public.users", "https://x.example.com/", "created")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.RunRecorder(ctx) }()
	const n = 500 // far more than the buffer: Record pushes back, loses nothing
	for i := range n {
		db.Record(attempt(eventFor(subr, subs[0], "e", "k"), 200+i%2*300))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	db.Record(attempt(eventFor(subr, subs[0], "late", "k"), 200)) // after stop: written directly
	if got := scalar[int](t, db, `SELECT count(*) FROM {{schema}}.delivery_log`); got != n+1 {
		t.Fatalf("delivery_log rows = %d, want %d", got, n+1)
	}
	if got := scalar[int](t, db, `SELECT total_deliveries FROM {{schema}}.subscriber_stats WHERE subscriber_id = $1`, subr); got != n+1 {
		t.Fatalf("total_deliveries = %d, want %d", got, n+1)
	}
	if st := db.RecorderStats(); st.Written != n+1 || st.Lost != 0 {
		t.Fatalf("RecorderStats = %+v", st)
	}
}

func TestRecordDisablesAtTheTriggeringAttempt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		statuses []int
		reason   string
	}{
		{"streak", []int{500, 200, 500, 503, 0}, "3 consecutive failures"},
		{"gone", []int{410}, "endpoint answered 410 Gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, _ := openDB(t, Options{FlushInterval: time.Hour}) // only the disable flushes
			ctx := context.Background()
			subr, subs := addSubscriber(t, db, "crm", "public.users", "https://x.example.com/", "created", "updated") // threshold 3
			if _, err := db.Lookup(ctx, "public.users", "created"); err != nil {                                      // this process learns the subscriber
				t.Fatal(err)
			}
			if _, err := db.Lookup(ctx, "public.users", "updated"); err != nil {
				t.Fatal(err)
			}
			ev := eventFor(subr, subs[0], "e1", "k")
			for i, st := range tc.statuses {
				if db.HasParked(subs[1], "other") {
					t.Fatalf("suspended before attempt %d", i)
				}
				db.Record(attempt(ev, st))
			}
			// At once, before anything is written: every subscription of
			// the subscriber parks its events.
			if !db.HasParked(subs[0], "x") || !db.HasParked(subs[1], "") {
				t.Fatal("not suspended right after the triggering attempt")
			}
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- db.RunRecorder(runCtx) }()
			eventually(t, "the disable written", func() bool {
				return !scalar[bool](t, db, `SELECT is_active FROM {{schema}}.subscribers WHERE id = $1`, subr)
			})
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := scalar[string](t, db, `SELECT disabled_reason FROM {{schema}}.subscribers WHERE id = $1`, subr); got != tc.reason {
				t.Errorf("disabled_reason = %q, want %q", got, tc.reason)
			}
			// Parked after the decision: stored disabled.
			park(t, db, eventFor(subr, subs[1], "late", "k2"))
			if got := scalar[string](t, db, `SELECT status FROM {{schema}}.retry_queue WHERE event_id = 'late'`); got != "disabled" {
				t.Errorf("late event parked as %s, want disabled", got)
			}
			// A lookup after the write keeps it suspended; re-enabling clears it.
			db.Invalidate("")
			db.Lookup(ctx, "public.users", "created")
			if !db.HasParked(subs[0], "x") {
				t.Error("suspension lost after reloading")
			}
			if err := db.SetSubscriberActive(ctx, subr, true); err != nil {
				t.Fatal(err)
			}
			if db.HasParked(subs[0], "x") {
				t.Error("still suspended after re-enabling")
			}
		})
	}
}

// The binary COPY keeps every value as the attempt had it: ids, NULLs,
// the exact body, times to the microsecond; bodies that are not valid
// text are cleaned like response bodies.
func TestDeliveryLogRowValues(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	subr, subs := addSubscriber(t, db, "crm", "public.users", "https://x.example.com/", "created")
	at := time.Date(2026, 11, 29, 3, 0, 0, 123456789, time.UTC)
	ok := attempt(eventFor(subr, subs[0], "évt-1", "k"), 200)
	ok.At, ok.Duration = at, 1500*time.Microsecond
	ok.Event.Body = []byte(`{"name":"Zoë","n":[1,2]}`)
	dirty := attempt(eventFor(subr, subs[0], "e2", "k"), 500)
	dirty.Event.Body = []byte("a\x00b\xffc")
	orphan := attempt(&deliver.Event{ID: "e3", Name: "created", Table: "public.users", Body: []byte(`{}`)}, 0)
	orphan.Number, orphan.Error = 0, "cannot project row"
	write(t, db, ok, dirty, orphan)

	got := scalar[string](t, db, `SELECT string_agg(concat_ws('|', coalesce(subscription_id::text, '-'), coalesce(subscriber_id::text, '-'),
    event_id, event_name, table_name, attempt_number, coalesce(request_payload, '-'), coalesce(response_status::text, '-'),
    delivery_duration_ms, coalesce(error_message, '-'), to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')), E'\n' ORDER BY id)
FROM {{schema}}.delivery_log`)
	want := strings.Join([]string{
		fmt.Sprintf(`%d|%d|évt-1|created|public.users|1|{"name":"Zoë","n":[1,2]}|200|2|-|2026-11-29 03:00:00.123456`, subs[0], subr),
		fmt.Sprintf("%d|%d|e2|created|public.users|1|ab\uFFFDc|500|3|HTTP 500|", subs[0], subr),
		"-|-|e3|created|public.users|0|{}|-|3|cannot project row|",
	}, "\n")
	// The last two rows' times are time.Now() at attempt(); compare them
	// apart.
	if gotLines, wantLines := strings.Split(got, "\n"), strings.Split(want, "\n"); len(gotLines) != 3 ||
		gotLines[0] != wantLines[0] || !strings.HasPrefix(gotLines[1], wantLines[1]) || !strings.HasPrefix(gotLines[2], wantLines[2]) {
		t.Fatalf("delivery_log rows:\n%s\nwant:\n%s", got, want)
	}
}

func TestDeliveryLogPayloadsOfFailuresOnly(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{LogFailedPayloadsOnly: true})
	subr, subs := addSubscriber(t, db, "crm", "public.users", "https://x.example.com/", "created")
	write(t, db, attempt(eventFor(subr, subs[0], "ok", "k"), 200), attempt(eventFor(subr, subs[0], "bad", "k"), 503))
	got := scalar[string](t, db, `SELECT string_agg(event_id || '=' || coalesce(request_payload, 'NULL'), ',' ORDER BY id) FROM {{schema}}.delivery_log`)
	if got != `ok=NULL,bad={"id":"bad"}` {
		t.Fatalf("payloads = %s, want the failed attempt's only", got)
	}
}

// logs.unlogged switches the table to UNLOGGED when the recorder starts,
// and back to logged when it is turned off again; rows survive both.
func TestDeliveryLogUnloggedSwitch(t *testing.T) {
	t.Parallel()
	db, dsn := openDB(t, Options{UnloggedDeliveryLog: true})
	persistence := func() string {
		return scalar[string](t, db, `SELECT relpersistence::text FROM pg_class WHERE oid = 'walhook.delivery_log'::regclass`)
	}
	if p := persistence(); p != "p" {
		t.Fatalf("before the recorder runs: relpersistence = %s, want p", p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.RunRecorder(ctx) }()
	subr, subs := addSubscriber(t, db, "crm", "public.users", "https://x.example.com/", "created")
	db.Record(attempt(eventFor(subr, subs[0], "e1", "k"), 200))
	eventually(t, "the attempt to be written", func() bool { return db.RecorderStats().Written == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p := persistence(); p != "u" {
		t.Fatalf("with UnloggedDeliveryLog: relpersistence = %s, want u", p)
	}
	logged := openDSN(t, dsn, "walhook", Options{})
	logged.applyLogPersistence(context.Background(), 5*time.Second)
	if p := persistence(); p != "p" {
		t.Fatalf("without UnloggedDeliveryLog: relpersistence = %s, want p", p)
	}
	if n := scalar[int](t, db, `SELECT count(*) FROM {{schema}}.delivery_log`); n != 1 {
		t.Fatalf("delivery_log rows after switching twice = %d, want 1", n)
	}
}

// A batch far larger than one COPY chunk arrives whole, attempts without
// an event skipped.
func TestDeliveryLogBatchLargerThanAChunk(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	subr, subs := addSubscriber(t, db, "crm", "public.users", "https://x.example.com/", "created")
	body := []byte(`{"pad":"` + strings.Repeat("x", 300) + `"}`)
	var batch []deliver.Attempt
	for i := range 3000 {
		if i%100 == 7 {
			batch = append(batch, deliver.Attempt{}) // no event: not logged
			continue
		}
		ev := eventFor(subr, subs[0], fmt.Sprint("e", i), "k")
		ev.Body = body
		batch = append(batch, attempt(ev, 200))
	}
	write(t, db, batch...)
	want := fmt.Sprintf("%d rows, %d bytes", 2970, 2970*len(body))
	got := scalar[string](t, db, `SELECT count(*) || ' rows, ' || sum(octet_length(request_payload)) || ' bytes' FROM {{schema}}.delivery_log`)
	if got != want || 2970*len(body) < 3*logChunk {
		t.Fatalf("delivery_log holds %s, want %s (over several chunks)", got, want)
	}
}
