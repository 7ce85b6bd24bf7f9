package deliver

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestLaneTakeParkable(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ordered := &Endpoint{SubscriptionID: 1}
	unordered := &Endpoint{SubscriptionID: 1, Unordered: true}
	unpersisted := &Endpoint{}
	old, fresh := now.Add(-time.Minute), now
	tests := []struct {
		name      string
		items     []item // ids are ev.ID; keys are ev.OrderKey
		inflight  []string
		wantTaken string
		wantLeft  string
	}{
		{"none expired", []item{it(ordered, "a", "k", fresh)}, nil, "", "a"},
		{"prefix expired", []item{it(ordered, "a", "k", old), it(ordered, "b", "j", old), it(ordered, "c", "k", fresh)}, nil, "a b", "c"},
		{"row in flight is held, with its later events", []item{it(ordered, "a", "k", old), it(ordered, "b", "j", old), it(ordered, "c", "k", old), it(ordered, "d", "x", fresh)}, []string{"k"}, "b", "a c d"},
		{"unordered not held", []item{it(unordered, "a", "k", old)}, []string{"k"}, "a", ""},
		{"unpersisted kept", []item{it(unpersisted, "a", "k", old), it(ordered, "b", "j", old)}, nil, "b", "a"},
		{"over taken unless behind its row", []item{it(ordered, "a", "k", fresh), over(it(ordered, "b", "j", fresh)), over(it(ordered, "c", "k", fresh)), it(ordered, "d", "x", fresh)}, nil, "b", "a c d"},
		{"over behind a taken event", []item{it(ordered, "a", "k", old), it(ordered, "b", "j", fresh), over(it(ordered, "c", "k", fresh))}, nil, "a c", "b"},
		{"limit", []item{it(ordered, "a", "k", old), it(ordered, "b", "j", old), it(ordered, "c", "x", old), it(ordered, "d", "y", old)}, nil, "a b c", "d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &Dispatcher{rq: &fakeRetryQueue{}}
			ep := newEndpoint(d, 1, 16)
			l := ep.lanes[0]
			l.active = true // no worker: the test drives the lane
			for _, x := range tt.items {
				if !x.over {
					ep.room <- struct{}{}
				}
				l.append(x)
			}
			for _, k := range tt.inflight {
				l.inflight = append(l.inflight, rowKey{1, k})
			}
			taken := l.takeParkable(now.Add(-time.Second), 3)
			if got := ids(taken); got != tt.wantTaken {
				t.Errorf("taken %q, want %q", got, tt.wantTaken)
			}
			if got := ids(l.q[l.head:]); got != tt.wantLeft {
				t.Errorf("left %q, want %q", got, tt.wantLeft)
			}
			n := 0
			for _, x := range l.q[l.head:] {
				if x.over {
					n++
				}
			}
			if len(ep.room) != len(l.q)-l.head-n || l.over != n {
				t.Errorf("%d room tokens and over %d for %d queued events, %d over", len(ep.room), l.over, len(l.q)-l.head, n)
			}
		})
	}
}

func it(ep *Endpoint, id, key string, at time.Time) item {
	return item{ev: &Event{ID: id, OrderKey: key, Endpoint: ep}, at: at}
}

func over(x item) item {
	x.over = true
	return x
}

func ids(items []item) string {
	s := make([]string, len(items))
	for i, x := range items {
		s[i] = x.ev.ID
	}
	return strings.Join(s, " ")
}

func TestLaneQueueCompacts(t *testing.T) {
	t.Parallel()
	d := &Dispatcher{stop: make(chan struct{})}
	ep := newEndpoint(d, 1, 1<<20)
	l := ep.lanes[0]
	l.active = true
	for i := range 1000 {
		ep.room <- struct{}{}
		l.q = append(l.q, it(&Endpoint{}, fmt.Sprint(i), "", time.Now()))
		if i%2 == 1 {
			batch, _ := l.pop()
			if len(batch) != 1 || batch[0].ev.ID != fmt.Sprint(i/2) {
				t.Fatalf("pop %d = %v, want %d", i, ids(batch), i/2)
			}
		}
	}
	if n := len(l.q) - l.head; n != 500 || l.head > len(l.q)/2+1 && l.head > 64 {
		t.Fatalf("queue holds %d events from head %d of %d, want 500 and compacted", n, l.head, len(l.q))
	}
}
