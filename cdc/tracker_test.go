package cdc

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestTrackerOrdering(t *testing.T) {
	t.Parallel()
	tr := NewTracker(100)
	if got := tr.Settled(0); got != 100 {
		t.Fatalf("start: %s", got)
	}
	a := tr.Open(200)
	a.Add()
	a.Add()
	tr.Seal(a, 210)
	b := tr.Open(300)
	b.Add()
	tr.Seal(b, 310)
	c := tr.Open(400) // open, not sealed
	steps := []struct {
		do         func()
		dispatched LSN
		want       LSN
		pending    int
	}{
		{func() {}, 500, 100, 3},
		{b.Done, 500, 100, 3}, // out of order: b settled, a not yet
		{a.Done, 500, 100, 3}, // a has one more
		{a.Done, 500, 310, 1}, // a and b settled; c open, keepalive ignored
		{func() { tr.Seal(c, 410) }, 410, 410, 0},
		{func() {}, 600, 600, 0}, // idle: the dispatched position counts
		{func() {}, 550, 600, 0}, // never decreases
	}
	for i, s := range steps {
		s.do()
		if got := tr.Settled(s.dispatched); got != s.want {
			t.Fatalf("step %d: Settled = %s, want %s", i, got, s.want)
		}
		if got := tr.Pending(); got != s.pending {
			t.Fatalf("step %d: Pending = %d, want %d", i, got, s.pending)
		}
	}
}

func TestTrackerDiscard(t *testing.T) {
	t.Parallel()
	tr := NewTracker(10)
	a := tr.Open(20)
	tr.Seal(a, 25)
	b := tr.Open(30)
	b.Add()
	if got := tr.Settled(40); got != 25 {
		t.Fatalf("with b open: %s", got)
	}
	tr.Discard(b) // rolled back: will come again
	if got := tr.Settled(25); got != 25 {
		t.Fatalf("after discard: %s", got)
	}
	if tr.Pending() != 0 {
		t.Fatalf("pending %d", tr.Pending())
	}
	b2 := tr.Open(30)
	tr.Seal(b2, 35)
	if got := tr.Settled(35); got != 35 {
		t.Fatalf("after resend: %s", got)
	}
}

func TestTrackerNeverBelowStart(t *testing.T) {
	t.Parallel()
	tr := NewTracker(1000)
	x := tr.Open(10)
	tr.Seal(x, 20)
	if got := tr.Settled(5); got != 1000 {
		t.Fatalf("Settled = %s, want 1000", got)
	}
}

func TestTrackerConcurrentDoneAndWait(t *testing.T) {
	t.Parallel()
	tr := NewTracker(1)
	const txns, events = 50, 40
	var wg sync.WaitGroup
	var last LSN
	for i := range txns {
		x := tr.Open(LSN(100 * (i + 1)))
		for range events {
			x.Add()
			wg.Add(1)
			go func() { defer wg.Done(); x.Done() }()
		}
		last = LSN(100*(i+1) + 10)
		tr.Seal(x, last)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Wait(ctx, last); err != nil {
		t.Fatalf("Wait: %v (settled %s)", err, tr.Settled(0))
	}
	wg.Wait()
	if tr.Pending() != 0 {
		t.Fatalf("pending %d", tr.Pending())
	}
}

func TestTrackerWaitCancelled(t *testing.T) {
	t.Parallel()
	tr := NewTracker(1)
	x := tr.Open(5)
	x.Add()
	tr.Seal(x, 9)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Wait(ctx, 9); err != context.Canceled {
		t.Fatalf("Wait = %v", err)
	}
}

func BenchmarkTrackerAddDone(b *testing.B) {
	tr := NewTracker(1)
	x := tr.Open(2)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			x.Add()
			x.Done()
		}
	})
}
