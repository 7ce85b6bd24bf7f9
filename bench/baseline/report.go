package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// walhookReport is the part of `walhook bench --json` the report reads.
type walhookReport struct {
	Median struct {
		Delivered         int64   `json:"delivered_events"`
		Missing           int64   `json:"missing_events"`
		DeliveredPerSec   float64 `json:"delivered_events_per_sec"`
		SendPerSec        float64 `json:"send_rows_per_sec"`
		LatencyP50MS      float64 `json:"latency_p50_ms"`
		LatencyP99MS      float64 `json:"latency_p99_ms"`
		CPUSecondsPer100k float64 `json:"cpu_seconds_per_100k"`
		PeakRSSMB         float64 `json:"peak_rss_mb"`
	} `json:"median"`
	Runs []json.RawMessage `json:"runs"`
}

// figures are the results found in one run's directory; a missing file
// leaves its entry nil and its line "not run".
type figures struct {
	decode, post1, post16, bare, bare1000 *result
	burst, batch50, batchBacklog          *walhookReport
	steady1k, steady5k                    *walhookReport
	logOff, down, backlog                 *walhookReport
}

// report prints walhook's figures beside the raw limits of the same run,
// as a Markdown table with each target's verdict. args[0] is the directory
// bench/run.sh wrote its JSON files into.
func report(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: baseline report DIR")
	}
	dir := args[0]
	var f figures
	load(dir, "decode", &f.decode)
	load(dir, "post1", &f.post1)
	load(dir, "post16", &f.post16)
	load(dir, "bare", &f.bare)
	load(dir, "bare_1000", &f.bare1000)
	load(dir, "wh_burst", &f.burst)
	load(dir, "wh_batch50", &f.batch50)
	load(dir, "wh_batch50_backlog", &f.batchBacklog)
	load(dir, "wh_1000", &f.steady1k)
	load(dir, "wh_5000", &f.steady5k)
	load(dir, "wh_logoff", &f.logOff)
	load(dir, "wh_down", &f.down)
	load(dir, "wh_backlog", &f.backlog)
	f.print(os.Stdout)
	return nil
}

// load decodes DIR/NAME.json into *dst, leaving it nil when the file is
// missing or empty (that workload did not run or failed).
func load[T any](dir, name string, dst **T) {
	b, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil || len(b) == 0 {
		return
	}
	v := new(T)
	if json.Unmarshal(b, v) == nil {
		*dst = v
	}
}

func (f *figures) print(w io.Writer) {
	fmt.Fprintln(w, "| raw limit (same run) | figure |")
	fmt.Fprintln(w, "|---|---|")
	row := func(name string, r *result, unit string) {
		if r == nil {
			fmt.Fprintf(w, "| %s | not run |\n", name)
			return
		}
		fmt.Fprintf(w, "| %s | %.0f %s |\n", name, r.PerSec, unit)
	}
	row("pgoutput decode of a 100k-row backlog, nothing else", f.decode, "rows/s")
	row("HTTP POST to the bench receiver, 1 in flight", f.post1, "requests/s")
	row("HTTP POST to the bench receiver, 16 in flight", f.post16, "requests/s")
	row("bare pipeline (decode → JSON → sign → POST, 8 in flight), 100k burst", f.bare, "rows/s")
	if f.bare != nil {
		fmt.Fprintf(w, "| bare pipeline CPU per 100k rows | %.2f s |\n", f.bare.CPUPer100k)
	}
	if f.bare1000 != nil {
		fmt.Fprintf(w, "| bare pipeline at 1,000 rows/s: p50 / p99 | %.2f / %.2f ms |\n", f.bare1000.P50MS, f.bare1000.P99MS)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| walhook target | walhook | ratio | target | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	f.targets(w)
}

func (f *figures) targets(w io.Writer) {
	line := func(name, figure, ratio, target string, ok, known bool) {
		verdict := "—"
		if known {
			verdict = map[bool]string{true: "yes", false: "**no**"}[ok]
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", name, figure, ratio, target, verdict)
	}
	rate := func(r *walhookReport) string {
		if r == nil {
			return "not run"
		}
		s := fmt.Sprintf("%.0f events/s", r.Median.DeliveredPerSec)
		if r.Median.Missing > 0 {
			s += fmt.Sprintf(" (%d missing)", r.Median.Missing)
		}
		return s
	}
	ratio := func(a *walhookReport, b float64, of string) (string, float64, bool) {
		if a == nil || b <= 0 {
			return "", 0, false
		}
		x := a.Median.DeliveredPerSec / b
		return fmt.Sprintf("%.2f × %s", x, of), x, a.Median.Missing == 0
	}
	var bareRate, decodeRate float64
	if f.bare != nil {
		bareRate = f.bare.PerSec
	}
	if f.decode != nil {
		decodeRate = f.decode.PerSec
	}
	s, x, known := ratio(f.burst, bareRate, "bare")
	line("one event per request, 100k burst in 100-row transactions", rate(f.burst), s, "≥ 0.90 × bare", x >= 0.9, known)
	s, x, known = ratio(f.batch50, decodeRate, "decode")
	line("batches of 50, 100k burst", rate(f.batch50), s, "≥ 0.60 × decode", x >= 0.6, known)
	s, x, known = ratio(f.batchBacklog, decodeRate, "decode")
	line("batches of 50, 100k backlog drained (as decode reads one)", rate(f.batchBacklog), s, "≥ 0.60 × decode", x >= 0.6, known)
	p99 := func(name string, r *walhookReport, limit float64) {
		if r == nil {
			line(name, "not run", "", fmt.Sprintf("p99 ≤ %.0f ms", limit), false, false)
			return
		}
		line(name, fmt.Sprintf("p50 %.2f ms, p99 %.2f ms", r.Median.LatencyP50MS, r.Median.LatencyP99MS), "",
			fmt.Sprintf("p99 ≤ %.0f ms", limit), r.Median.LatencyP99MS <= limit && r.Median.Missing == 0, true)
	}
	p99("steady 1,000 rows/s", f.steady1k, 3)
	p99("steady 5,000 rows/s", f.steady5k, 20)
	if f.burst != nil {
		m := f.burst.Median
		line("CPU per 100k delivered events (burst, one per request)", fmt.Sprintf("%.2f s", m.CPUSecondsPer100k), "", "≤ 6 s", m.CPUSecondsPer100k <= 6, true)
		line("peak RSS during the burst", fmt.Sprintf("%.1f MB", m.PeakRSSMB), "", "≤ 64 MB", m.PeakRSSMB <= 64, true)
	}
	if f.backlog != nil {
		m := f.backlog.Median
		line("peak RSS while a large backlog drains", fmt.Sprintf("%.1f MB (%d events, %.0f/s)", m.PeakRSSMB, m.Delivered, m.DeliveredPerSec), "", "≤ 64 MB", m.PeakRSSMB <= 64 && m.Missing == 0, true)
	}
	if f.logOff != nil && f.burst != nil {
		s, x, known = ratio(f.burst, f.logOff.Median.DeliveredPerSec, "log off")
		line("delivery log on vs off", rate(f.burst)+" vs "+rate(f.logOff), s, "≥ 0.85 × off", x >= 0.85, known)
	}
	if f.down != nil && f.burst != nil {
		s, x, known = ratio(f.down, f.burst.Median.DeliveredPerSec, "alone")
		line("healthy endpoint beside one refusing connections", rate(f.down), s, "≥ 0.90 × alone", x >= 0.9, known)
	}
}
