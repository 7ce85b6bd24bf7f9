package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// benchReport is what `walhook bench` prints: the workload, each
// repetition, and the median of the repetitions.
type benchReport struct {
	Workload benchWorkload `json:"workload"`
	Runs     []benchRun    `json:"runs"`
	Median   benchRun      `json:"median"`
}

// benchWorkload describes what was measured.
type benchWorkload struct {
	Table       string  `json:"table"`
	Event       string  `json:"event"`
	Rows        int     `json:"rows"` // per repetition
	TxSize      int     `json:"tx_size"`
	BatchSize   int     `json:"batch_size"`
	Rate        float64 `json:"rate,omitempty"`
	Concurrency int     `json:"concurrent_webhooks"`
	DeliveryLog bool    `json:"delivery_log"`
	// DeliveryLogMode is --delivery-log: on, off, unlogged or failures.
	DeliveryLogMode string  `json:"delivery_log_mode"`
	DownEndpoint    bool    `json:"down_endpoint"`
	Backlog         bool    `json:"backlog"`
	FailRate        float64 `json:"fail_rate,omitempty"`
	Target          string  `json:"target"`
	Receiver        string  `json:"receiver"` // "process", "in-process" or "external"
	Repeat          int     `json:"repeat"`
	GOMAXPROCS      int     `json:"gomaxprocs"`
}

// benchRun is one measured burst.
type benchRun struct {
	Rows              int     `json:"rows"`
	Expected          int64   `json:"expected_events"`
	Delivered         int64   `json:"delivered_events"`
	Missing           int64   `json:"missing_events"`
	Duplicates        int64   `json:"duplicates"`
	WriteSeconds      float64 `json:"write_seconds"`
	SendPerSec        float64 `json:"send_rows_per_sec"`
	DeliverSeconds    float64 `json:"deliver_seconds"`
	DeliveredPerSec   float64 `json:"delivered_events_per_sec"`
	LatencyP50MS      float64 `json:"latency_p50_ms"`
	LatencyP95MS      float64 `json:"latency_p95_ms"`
	LatencyP99MS      float64 `json:"latency_p99_ms"`
	LatencyMaxMS      float64 `json:"latency_max_ms"`
	LatencyMeanMS     float64 `json:"latency_mean_ms"`
	Requests          int64   `json:"requests"`
	SuccessRate       float64 `json:"success_rate"`
	FailureRate       float64 `json:"failure_rate"`
	MaxInFlight       int64   `json:"max_in_flight"`
	AvgInFlight       float64 `json:"avg_in_flight"`
	CPUSeconds        float64 `json:"cpu_seconds"`
	CPUSecondsPer100k float64 `json:"cpu_seconds_per_100k"`
	PeakRSSMB         float64 `json:"peak_rss_mb"`
	// Statuses counts the receiver's answers by HTTP status.
	Statuses map[string]int64 `json:"statuses,omitempty"`
	// Errors counts failures by category: the receiver's rejections and,
	// with the delivery log on, walhook's own error messages.
	Errors map[string]int64 `json:"errors,omitempty"`
	// Parked is how many events sat in the durable retry queue at the end.
	Parked   int64         `json:"parked"`
	Timeline []benchSecond `json:"in_flight_timeline,omitempty"`
	// RSSTimelineMB is the walhook process's largest resident size in
	// each second of the run.
	RSSTimelineMB []float64 `json:"rss_timeline_mb,omitempty"`

	started time.Time
}

// percentile returns the p-th percentile (0..100) of sorted values,
// nearest-rank.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// fillLatencies sets the latency figures from µs values (sorted in place).
func (r *benchRun) fillLatencies(us []int64) {
	if len(us) == 0 {
		return
	}
	slices.Sort(us)
	ms := func(v int64) float64 { return float64(v) / 1000 }
	var sum int64
	for _, v := range us {
		sum += v
	}
	r.LatencyP50MS = ms(percentile(us, 50))
	r.LatencyP95MS = ms(percentile(us, 95))
	r.LatencyP99MS = ms(percentile(us, 99))
	r.LatencyMaxMS = ms(us[len(us)-1])
	r.LatencyMeanMS = ms(sum / int64(len(us)))
}

// fillRequests sets request counts, rates and in-flight figures from the
// receiver's statistics.
func (r *benchRun) fillRequests(st benchStats) {
	r.Requests = st.Requests
	r.Duplicates = st.Duplicates
	r.Statuses = st.Statuses
	var ok int64
	for code, n := range st.Statuses {
		if strings.HasPrefix(code, "2") {
			ok += n
		}
	}
	if r.Requests > 0 {
		r.SuccessRate = float64(ok) / float64(r.Requests)
		r.FailureRate = 1 - r.SuccessRate
	}
	r.MaxInFlight, r.AvgInFlight = st.MaxInFlight, st.AvgInFlight
	r.Timeline = st.Timeline
	for reason, n := range st.Rejected {
		r.addError("receiver: "+reason, n)
	}
	for code, n := range st.Statuses {
		if code == "503" {
			r.addError("receiver: 503 (injected)", n)
		}
	}
}

func (r *benchRun) addError(category string, n int64) {
	if r.Errors == nil {
		r.Errors = map[string]int64{}
	}
	r.Errors[category] += n
}

// medianRun returns, field by field, the median of the runs' figures;
// maps and timelines come from the run with the median delivery rate.
func medianRun(runs []benchRun) benchRun {
	if len(runs) == 0 {
		return benchRun{}
	}
	byRate := slices.Clone(runs)
	sort.Slice(byRate, func(i, j int) bool { return byRate[i].DeliveredPerSec < byRate[j].DeliveredPerSec })
	m := byRate[len(byRate)/2]
	f := func(get func(benchRun) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = get(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	m.WriteSeconds = f(func(r benchRun) float64 { return r.WriteSeconds })
	m.SendPerSec = f(func(r benchRun) float64 { return r.SendPerSec })
	m.DeliverSeconds = f(func(r benchRun) float64 { return r.DeliverSeconds })
	m.LatencyP50MS = f(func(r benchRun) float64 { return r.LatencyP50MS })
	m.LatencyP95MS = f(func(r benchRun) float64 { return r.LatencyP95MS })
	m.LatencyP99MS = f(func(r benchRun) float64 { return r.LatencyP99MS })
	m.LatencyMaxMS = f(func(r benchRun) float64 { return r.LatencyMaxMS })
	m.LatencyMeanMS = f(func(r benchRun) float64 { return r.LatencyMeanMS })
	m.SuccessRate = f(func(r benchRun) float64 { return r.SuccessRate })
	m.FailureRate = f(func(r benchRun) float64 { return r.FailureRate })
	m.AvgInFlight = f(func(r benchRun) float64 { return r.AvgInFlight })
	m.CPUSeconds = f(func(r benchRun) float64 { return r.CPUSeconds })
	m.CPUSecondsPer100k = f(func(r benchRun) float64 { return r.CPUSecondsPer100k })
	m.PeakRSSMB = f(func(r benchRun) float64 { return r.PeakRSSMB })
	m.MaxInFlight = int64(f(func(r benchRun) float64 { return float64(r.MaxInFlight) }))
	var missing int64
	for _, r := range runs {
		missing = max(missing, r.Missing)
	}
	m.Missing = missing // the worst run: a missing event is never averaged away
	m.Timeline, m.RSSTimelineMB = nil, nil
	return m
}

// writeJSON prints the report as indented JSON.
func (rep *benchReport) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// writeText prints the report for a person.
func (rep *benchReport) writeText(w io.Writer) {
	wl := rep.Workload
	fmt.Fprintf(w, "walhook bench: %d %s rows into %s, %d rows per transaction, %s, %d webhooks in flight at most\n",
		wl.Rows, wl.Event, wl.Table, wl.TxSize, batchWords(wl.BatchSize), wl.Concurrency)
	mode := onOff(wl.DeliveryLog)
	if wl.DeliveryLogMode == "unlogged" || wl.DeliveryLogMode == "failures" {
		mode += " (" + wl.DeliveryLogMode + ")"
	}
	fmt.Fprintf(w, "  delivery log %s; receiver %s at %s", mode, wl.Receiver, wl.Target)
	if wl.Rate > 0 {
		fmt.Fprintf(w, "; paced at %.0f rows/s", wl.Rate)
	}
	if wl.Backlog {
		fmt.Fprint(w, "; rows written while walhook was stopped, then drained")
	}
	if wl.DownEndpoint {
		fmt.Fprint(w, "; plus a subscriber whose endpoint refuses connections")
	}
	if wl.FailRate > 0 {
		fmt.Fprintf(w, "; receiver fails %.0f%% of requests", wl.FailRate*100)
	}
	fmt.Fprintln(w)
	for i, r := range rep.Runs {
		if len(rep.Runs) > 1 {
			fmt.Fprintf(w, "\nrun %d of %d\n", i+1, len(rep.Runs))
		}
		r.writeText(w)
	}
	if len(rep.Runs) > 1 {
		fmt.Fprintf(w, "\nmedian of %d runs\n", len(rep.Runs))
		rep.Median.writeText(w)
	}
}

func (r benchRun) writeText(w io.Writer) {
	fmt.Fprintf(w, "  send throughput     %10.0f rows/s   (%d rows in %s)\n", r.SendPerSec, r.Rows, secs(r.WriteSeconds))
	fmt.Fprintf(w, "  delivered           %10.0f events/s (%d of %d in %s, %d missing, %d duplicates)\n",
		r.DeliveredPerSec, r.Delivered, r.Expected, secs(r.DeliverSeconds), r.Missing, r.Duplicates)
	fmt.Fprintf(w, "  commit to receipt   p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms  mean %.2f ms\n",
		r.LatencyP50MS, r.LatencyP95MS, r.LatencyP99MS, r.LatencyMaxMS, r.LatencyMeanMS)
	fmt.Fprintf(w, "  requests            %d, %.2f%% succeeded, %.2f%% failed\n", r.Requests, r.SuccessRate*100, r.FailureRate*100)
	fmt.Fprintf(w, "  in flight           max %d, average %.1f while active\n", r.MaxInFlight, r.AvgInFlight)
	fmt.Fprintf(w, "  walhook CPU         %.2f s (%.2f s per 100k events), peak RSS %.1f MB\n", r.CPUSeconds, r.CPUSecondsPer100k, r.PeakRSSMB)
	if r.Parked > 0 {
		fmt.Fprintf(w, "  retry queue         %d events parked\n", r.Parked)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Fprintf(w, "  error               %-50s %d\n", k, r.Errors[k])
	}
}

func secs(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func batchWords(n int) string {
	if n <= 1 {
		return "one event per request"
	}
	return fmt.Sprintf("up to %d events per request", n)
}
