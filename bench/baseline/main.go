// Command baseline measures the raw limits that walhook's figures are
// compared with, on the same machine and in the same run (bench/run.sh):
//
//	baseline decode  read a backlog from a pgoutput slot and parse it, nothing else
//	baseline post    POST small signed JSON bodies to the bench receiver (keep-alive)
//	baseline bare    decode → JSON → sign → POST with N in flight: no durability,
//	                 no retries, no ordering (a burst, or paced with -rate)
//	baseline report  print walhook's figures beside the baselines, as ratios
//
// Each measuring mode repeats -repeat times and prints one JSON object with
// the median on stdout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"
)

// result is one baseline's figures (medians of the repetitions).
type result struct {
	Mode       string    `json:"mode"`
	Rows       int       `json:"rows"`
	InFlight   int       `json:"in_flight,omitempty"`
	Rate       float64   `json:"rate,omitempty"`
	PerSec     float64   `json:"per_sec"`
	P50MS      float64   `json:"p50_ms,omitempty"`
	P99MS      float64   `json:"p99_ms,omitempty"`
	CPUPer100k float64   `json:"cpu_seconds_per_100k,omitempty"`
	Runs       []float64 `json:"runs_per_sec"`
}

type options struct {
	rows     int
	txSize   int
	inFlight int
	rate     float64
	repeat   int
	walhook  string
	timeout  time.Duration
	cpuprof  string
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: baseline decode|post|bare|report [flags]")
		os.Exit(2)
	}
	mode := os.Args[1]
	if mode == "report" {
		if err := report(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "baseline report:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	fs.IntVar(&o.rows, "rows", 100000, "rows (or requests) per repetition")
	fs.IntVar(&o.txSize, "tx-size", 100, "rows per transaction")
	fs.IntVar(&o.inFlight, "in-flight", 8, "requests in flight")
	fs.Float64Var(&o.rate, "rate", 0, "paced rows/s (bare), 0 for a burst")
	fs.IntVar(&o.repeat, "repeat", 3, "repetitions; the median is reported")
	fs.StringVar(&o.walhook, "walhook", "walhook", "walhook binary (its bench-receiver is the receiver)")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "bound on one repetition")
	fs.StringVar(&o.cpuprof, "cpuprofile", "", "write a CPU profile of this process to `file`")
	_ = fs.Parse(os.Args[2:])
	ctx := context.Background()
	if o.cpuprof != "" {
		stop, err := startProfile(o.cpuprof)
		if err != nil {
			fmt.Fprintf(os.Stderr, "baseline %s: %v\n", mode, err)
			os.Exit(1)
		}
		defer stop()
	}
	var res result
	var err error
	switch mode {
	case "decode":
		res, err = runDecode(ctx, o)
	case "post":
		res, err = runPost(ctx, o)
	case "bare":
		res, err = runBare(ctx, o)
	default:
		err = fmt.Errorf("unknown mode %q: write decode, post, bare or report", mode)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "baseline %s: %v\n", mode, err)
		os.Exit(1) //nolint:gocritic // the profile of a failed run is not wanted
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

// startProfile starts a CPU profile into path and returns what stops it.
func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start CPU profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// median returns the median of v.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// cpuTime is this process's CPU time so far (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
