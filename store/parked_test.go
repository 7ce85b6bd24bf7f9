package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walhook/walhook/deliver"
)

func TestParkedSetBoundedPerSubscription(t *testing.T) {
	t.Parallel()
	p := newParkedSet()
	p.add([]parkKey{{2, "other"}})
	for i := range maxKeysPerSub + 1 {
		p.add([]parkKey{{1, fmt.Sprint("row", i)}})
	}
	if got := p.len(); got != 2 {
		t.Fatalf("len = %d after %d keys of one subscription, want 2 (one marker, one key)", got, maxKeysPerSub+1)
	}
	if !p.has(1, "row0") || !p.has(1, "never parked") || !p.has(1, "") {
		t.Fatal("a subscription over the bound must count as parked for every key")
	}
	if !p.has(2, "other") || p.has(2, "row0") {
		t.Fatal("another subscription's keys changed")
	}
	p.removeUnlessNewer(parkKey{1, "row0"}, p.current())
	if !p.has(1, "row0") {
		t.Fatal("the retry worker's removal of one key dropped the marker")
	}

	// A refresh that still finds the subscription over the bound keeps it
	// marked, without holding its keys.
	p.beginRefresh()
	loaded := map[parkKey]uint64{}
	for i := range maxKeysPerSub + 1 {
		loaded[parkKey{1, fmt.Sprint("row", i)}] = 0
	}
	p.endRefresh(loaded)
	if p.len() != 1 || !p.has(1, "x") || p.has(2, "other") {
		t.Fatalf("after a refresh over the bound: len %d, has(1,x) %v, has(2,other) %v; want 1, true, false",
			p.len(), p.has(1, "x"), p.has(2, "other"))
	}

	// Back under the bound: exact keys again.
	p.beginRefresh()
	p.endRefresh(map[parkKey]uint64{{1, "row7"}: 0})
	if !p.has(1, "row7") || p.has(1, "row8") {
		t.Fatal("a refresh under the bound must drop the marker and keep the table's keys")
	}
}

func TestParkedSetMarkedDuringRefreshSurvivesIt(t *testing.T) {
	t.Parallel()
	p := newParkedSet()
	p.beginRefresh()
	for i := range maxKeysPerSub + 1 {
		p.add([]parkKey{{1, fmt.Sprint("row", i)}})
	}
	p.endRefresh(map[parkKey]uint64{}) // snapshot taken before the adds
	if !p.has(1, "row0") || !p.has(1, "any") {
		t.Fatal("a subscription marked during a refresh was forgotten by it")
	}
}

// TestParkedSetOverlappingRefreshes: refreshes overlap in walhook (the
// retry worker's, a new leader's, one after a subscriber change). Keys
// added while any is running survive each, and the set keeps working after
// both ended (this once panicked on a nil map).
func TestParkedSetOverlappingRefreshes(t *testing.T) {
	t.Parallel()
	p := newParkedSet()
	p.beginRefresh()
	p.beginRefresh()
	p.add([]parkKey{{1, "a"}})
	p.endRefresh(map[parkKey]uint64{})
	p.add([]parkKey{{1, "b"}})
	p.endRefresh(map[parkKey]uint64{}) // its snapshot predates both adds
	if !p.has(1, "a") || !p.has(1, "b") {
		t.Fatalf("keys added during overlapping refreshes were forgotten: a %v, b %v", p.has(1, "a"), p.has(1, "b"))
	}
	for i := range maxKeysPerSub + 1 {
		p.add([]parkKey{{2, fmt.Sprint("row", i)}})
	}
	if !p.has(2, "any") {
		t.Fatal("a subscription over the bound after overlapping refreshes is not marked")
	}
	p.beginRefresh()
	p.add([]parkKey{{3, "c"}})
	p.endRefresh(nil)
	if !p.has(3, "c") || !p.has(2, "any") {
		t.Fatal("a refresh that loaded nothing changed the set")
	}
}

func TestParkGroupCoalescesAndReportsEachOutcome(t *testing.T) {
	t.Parallel()
	var g parkGroup
	var mu sync.Mutex
	inserted := map[string]int{}
	statements := 0
	release := make(chan struct{})
	var held atomic.Bool
	insert := func(ctx context.Context, evs []deliver.Parked) error {
		if held.CompareAndSwap(false, true) {
			<-release // hold the first statement so that others queue up
		}
		mu.Lock()
		defer mu.Unlock()
		statements++
		for _, p := range evs {
			inserted[p.Event.ID]++
		}
		return nil
	}
	const callers = 20
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs := []deliver.Parked{{Event: &deliver.Event{ID: fmt.Sprint(c, "a")}}, {Event: &deliver.Event{ID: fmt.Sprint(c, "b")}}}
			errs <- g.do(context.Background(), evs, insert)
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); ; runtime.Gosched() {
		g.mu.Lock()
		n := len(g.waiting)
		g.mu.Unlock()
		if n == callers-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d callers queued behind the first statement", n, callers-1)
		}
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(inserted) != 2*callers {
		t.Fatalf("%d events inserted, want %d", len(inserted), 2*callers)
	}
	for id, n := range inserted {
		if n != 1 {
			t.Fatalf("event %s inserted %d times", id, n)
		}
	}
	if statements != 2 {
		t.Fatalf("%d statements, want 2 (the first, then every caller that queued behind it)", statements)
	}
	if g.running || len(g.waiting) != 0 {
		t.Fatal("the group did not end its run")
	}
}

func TestParkGroupErrorAndCancelledWaiter(t *testing.T) {
	t.Parallel()
	var g parkGroup
	boom := errors.New("boom")
	started, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- g.do(context.Background(), []deliver.Parked{{}}, func(context.Context, []deliver.Parked) error {
			close(started)
			<-release
			return boom
		})
	}()
	<-started
	// A waiter whose context ends leaves the queue with its context's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.do(ctx, []deliver.Parked{{}}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v, want context.Canceled", err)
	}
	close(release)
	if err := <-first; !errors.Is(err, boom) {
		t.Fatalf("leader: %v, want the statement's error", err)
	}
	// The group is free again: the next caller leads at once.
	if err := g.do(context.Background(), []deliver.Parked{{}}, func(context.Context, []deliver.Parked) error { return nil }); err != nil {
		t.Fatal(err)
	}
}
