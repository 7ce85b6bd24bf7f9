package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walhook/walhook/deliver"
)

// benchReceiver is the webhook receiver of `walhook bench`: it verifies
// each request's signature, records the first receipt of every event id
// with its commit-to-receipt latency (the payload's occurred_at against the
// receiver's clock), counts requests in flight, and can be told to fail a
// share of requests. It understands single events and batch bodies
// ({"type":"batch","events":[…]}).
//
// GET /_bench/stats returns a benchStats as JSON (with the latencies of
// every event when ?latencies=1), GET /_bench/count only the number of
// distinct events, POST /_bench/reset forgets everything. Every other
// request is a webhook.
type benchReceiver struct {
	secrets  []string
	failRate float64 // share of webhook requests answered 503, 0..1

	requests atomic.Int64
	inFlight atomic.Int64
	maxIn    atomic.Int64
	unique   atomic.Int64

	mu       sync.Mutex
	since    time.Time        // last reset
	first    time.Time        // first webhook request since reset
	last     time.Time        // last event recorded
	lat      map[string]int64 // event id → commit-to-receipt latency, µs
	dups     int64
	events   int64
	statuses map[int]int64
	rejected map[string]int64
	inSum    float64 // sampled in-flight values while active
	inN      int64
	timeline []benchSecond
}

// benchSecond is the in-flight picture of one second since reset.
type benchSecond struct {
	Second int     `json:"second"`
	Max    int64   `json:"max_in_flight"`
	Avg    float64 `json:"avg_in_flight"`
	Events int64   `json:"events"`
	sum    float64
	n      int64
}

// benchStats is what the receiver saw since its last reset.
type benchStats struct {
	Requests    int64            `json:"requests"`
	Events      int64            `json:"events"`
	Unique      int64            `json:"unique"`
	Duplicates  int64            `json:"duplicates"`
	Statuses    map[string]int64 `json:"statuses"`
	Rejected    map[string]int64 `json:"rejected,omitempty"`
	Since       time.Time        `json:"since"`
	FirstAt     time.Time        `json:"first_at"`
	LastAt      time.Time        `json:"last_at"`
	MaxInFlight int64            `json:"max_in_flight"`
	AvgInFlight float64          `json:"avg_in_flight"`
	Timeline    []benchSecond    `json:"in_flight_timeline,omitempty"`
	LatenciesUS []int64          `json:"latencies_us,omitempty"`
}

// benchBody is the part of a payload or batch body the receiver reads.
type benchBody struct {
	ID         string      `json:"id"`
	OccurredAt string      `json:"occurred_at"`
	Type       string      `json:"type"`
	Events     []benchBody `json:"events"`
}

func newBenchReceiver(secrets []string, failRate float64) *benchReceiver {
	r := &benchReceiver{secrets: secrets, failRate: failRate}
	r.reset()
	return r
}

func (r *benchReceiver) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests.Store(0)
	r.maxIn.Store(r.inFlight.Load())
	r.unique.Store(0)
	r.since, r.first, r.last = time.Now(), time.Time{}, time.Time{}
	r.lat = make(map[string]int64, 1<<16)
	r.dups, r.events, r.inSum, r.inN = 0, 0, 0, 0
	r.statuses, r.rejected = map[int]int64{}, map[string]int64{}
	r.timeline = r.timeline[:0]
}

func (r *benchReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch req.URL.Path {
	case "/_bench/stats":
		r.serveStats(w, req)
		return
	case "/_bench/count":
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, strconv.FormatInt(r.unique.Load(), 10))
		return
	case "/_bench/reset":
		r.reset()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	n := r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	for m := r.maxIn.Load(); n > m && !r.maxIn.CompareAndSwap(m, n); m = r.maxIn.Load() {
	}
	status, reason := r.webhook(req)
	if status >= 300 {
		http.Error(w, reason, status)
		return
	}
	w.WriteHeader(status)
}

// webhook handles one webhook request and returns the status to answer
// and, on failure, why.
func (r *benchReceiver) webhook(req *http.Request) (int, string) {
	nreq := r.requests.Add(1)
	body, err := io.ReadAll(io.LimitReader(req.Body, maxReceiveBytes))
	now := time.Now()
	switch {
	case err != nil:
		return r.reject(now, http.StatusBadRequest, "read body")
	case req.Method != http.MethodPost:
		return r.reject(now, http.StatusMethodNotAllowed, "not a POST")
	case r.injectFailure(nreq):
		return r.reject(now, http.StatusServiceUnavailable, "")
	}
	if len(r.secrets) > 0 {
		if err := deliver.Verify(r.secrets, req.Header, body, 5*time.Minute); err != nil {
			return r.reject(now, http.StatusUnauthorized, "signature: "+err.Error())
		}
	}
	var b benchBody
	if err := json.Unmarshal(body, &b); err != nil {
		return r.reject(now, http.StatusBadRequest, "body is not JSON")
	}
	evs := []benchBody{b}
	if b.Type == "batch" {
		evs = b.Events
	}
	r.record(now, evs)
	return http.StatusNoContent, ""
}

// injectFailure reports whether request n (from 1) is one of the share
// told to fail: spread evenly, so any window of requests fails about
// failRate of them.
func (r *benchReceiver) injectFailure(n int64) bool {
	if r.failRate <= 0 {
		return false
	}
	return math.Floor(float64(n)*r.failRate) != math.Floor(float64(n-1)*r.failRate)
}

func (r *benchReceiver) reject(now time.Time, status int, reason string) (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.noteRequest(now)
	r.statuses[status]++
	if reason != "" {
		r.rejected[reason]++
	}
	return status, reason
}

func (r *benchReceiver) record(now time.Time, evs []benchBody) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.noteRequest(now)
	r.statuses[http.StatusNoContent]++
	sec := r.second(now)
	for _, ev := range evs {
		r.events++
		if _, seen := r.lat[ev.ID]; seen {
			r.dups++
			continue
		}
		var us int64
		if at, err := time.Parse(time.RFC3339Nano, ev.OccurredAt); err == nil {
			us = max(now.Sub(at).Microseconds(), 0)
		}
		r.lat[ev.ID] = us
		sec.Events++
	}
	r.unique.Store(int64(len(r.lat)))
	r.last = now
}

func (r *benchReceiver) noteRequest(now time.Time) {
	if r.first.IsZero() {
		r.first = now
	}
}

// second returns the timeline entry of the second now falls in; r.mu held.
func (r *benchReceiver) second(now time.Time) *benchSecond {
	s := int(now.Sub(r.since) / time.Second)
	for len(r.timeline) <= s {
		r.timeline = append(r.timeline, benchSecond{Second: len(r.timeline)})
	}
	return &r.timeline[s]
}

// Run samples the requests in flight every millisecond until ctx ends;
// samples count towards the average only while requests are arriving.
func (r *benchReceiver) Run(ctx context.Context) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	var lastReq int64
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			n, reqs := r.inFlight.Load(), r.requests.Load()
			if n == 0 && reqs == lastReq {
				continue
			}
			lastReq = reqs
			r.sample(now, n)
		}
	}
}

func (r *benchReceiver) sample(now time.Time, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inSum += float64(n)
	r.inN++
	s := r.second(now)
	s.sum += float64(n)
	s.n++
	s.Max = max(s.Max, n)
}

// Stats returns what the receiver saw since its last reset, with every
// event's latency when withLatencies.
func (r *benchReceiver) Stats(withLatencies bool) benchStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := benchStats{
		Requests: r.requests.Load(), Events: r.events, Unique: int64(len(r.lat)), Duplicates: r.dups,
		Statuses: map[string]int64{}, Rejected: map[string]int64{},
		Since: r.since, FirstAt: r.first, LastAt: r.last, MaxInFlight: r.maxIn.Load(),
	}
	for code, n := range r.statuses {
		st.Statuses[strconv.Itoa(code)] = n
	}
	for reason, n := range r.rejected {
		st.Rejected[reason] = n
	}
	if r.inN > 0 {
		st.AvgInFlight = r.inSum / float64(r.inN)
	}
	for _, s := range r.timeline {
		if s.n > 0 {
			s.Avg = s.sum / float64(s.n)
		}
		st.Timeline = append(st.Timeline, s)
	}
	if withLatencies {
		st.LatenciesUS = make([]int64, 0, len(r.lat))
		for _, us := range r.lat {
			st.LatenciesUS = append(st.LatenciesUS, us)
		}
	}
	return st
}

func (r *benchReceiver) serveStats(w http.ResponseWriter, req *http.Request) {
	st := r.Stats(req.URL.Query().Get("latencies") == "1")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st) // a client gone away is its own problem
}
