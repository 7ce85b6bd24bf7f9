package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user + system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// residentBytes returns this process's resident set size, 0 where
// /proc is not available.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// rssPeak samples the resident set size until ctx ends and keeps the
// largest value seen, overall and per second since the last reset.
type rssPeak struct {
	peak atomic.Int64

	mu      sync.Mutex
	since   time.Time
	seconds []int64 // largest value in each second since reset
}

// Run samples every 20ms until ctx ends.
func (p *rssPeak) Run(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		p.observe()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (p *rssPeak) observe() {
	n := residentBytes()
	for m := p.peak.Load(); n > m && !p.peak.CompareAndSwap(m, n); m = p.peak.Load() {
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.since.IsZero() {
		return
	}
	s := int(time.Since(p.since) / time.Second)
	for len(p.seconds) <= s {
		p.seconds = append(p.seconds, 0)
	}
	p.seconds[s] = max(p.seconds[s], n)
}

// reset starts a new peak and timeline from the current size.
func (p *rssPeak) reset() {
	p.peak.Store(residentBytes())
	p.mu.Lock()
	p.since, p.seconds = time.Now(), p.seconds[:0]
	p.mu.Unlock()
}

// timelineMB returns the largest size of each second since reset, in MB.
func (p *rssPeak) timelineMB() []float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]float64, len(p.seconds))
	for i, n := range p.seconds {
		out[i] = float64(n) / (1 << 20)
	}
	return out
}

// progressLine draws a one-line progress bar on a terminal: redrawn in
// place, and only when w is a terminal.
type progressLine struct {
	w       io.Writer
	enabled bool
	start   time.Time
	drawn   bool
}

func newProgressLine(f *os.File, enabled bool) *progressLine {
	st, err := f.Stat()
	return &progressLine{w: f, enabled: enabled && err == nil && st.Mode()&os.ModeCharDevice != 0, start: time.Now()}
}

// draw shows label with done of total.
func (p *progressLine) draw(label string, written, done, total int64) {
	if !p.enabled || total <= 0 {
		return
	}
	const width = 30
	filled := int(min(done, total) * width / total)
	rate := float64(done) / max(time.Since(p.start).Seconds(), 1e-3)
	fmt.Fprintf(p.w, "\r%-9s [%s%s] written %d, delivered %d/%d (%.0f/s)   ",
		label, strings.Repeat("#", filled), strings.Repeat(".", width-filled), written, done, total, rate)
	p.drawn = true
}

// restart resets the rate's start time.
func (p *progressLine) restart() { p.start = time.Now() }

// clear ends the line.
func (p *progressLine) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}
