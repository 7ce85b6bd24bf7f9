package store

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/walhook/walhook/deliver"
)

// parkKey is one row of one subscription.
type parkKey struct {
	sub int64
	key string
}

// maxKeysPerSub bounds the keys parkedSet remembers for one subscription;
// beyond it the subscription counts as parked for every key.
const maxKeysPerSub = 4096

// parkedSet remembers which (subscription, order key) pairs have rows in the
// retry queue that block later events (pending, held or disabled). It may
// say yes when the answer is no (then an event parks needlessly, which is
// safe) but never no while a row parked by this process is undelivered.
//
// Each key carries the version of its latest add, so that the retry worker
// removes a key only when nothing was parked under it since it checked the
// table.
//
// Memory is bounded per subscription: once one has more than
// maxKeysPerSub keys (an endpoint down for long, its events parking row
// after row), they are replaced by one marker that says yes for every key
// of the subscription. Only a refresh, which sees the whole table, drops
// the marker, when the subscription is back under the bound; until then
// its new events park behind the backlog, which keeps them in order.
type parkedSet struct {
	mu      sync.RWMutex
	set     map[parkKey]uint64
	perSub  map[int64]int      // keys in set per subscription
	all     map[int64]struct{} // subscriptions parked for every key
	version uint64
	// During a refresh, keys added meanwhile are kept in added (and
	// subscriptions marked meanwhile in addedAll) too, so that the reload
	// (a snapshot taken earlier) does not forget them.
	// Refreshes may overlap (the retry worker's periodic one, a new
	// leader's, one after a subscriber change): refreshes counts those
	// running, and the additions are kept until the last one ends.
	refreshing bool
	refreshes  int
	added      map[parkKey]uint64
	addedAll   map[int64]struct{}
	// group coalesces the concurrent inserts that add to the set.
	group parkGroup
}

func newParkedSet() *parkedSet {
	return &parkedSet{set: map[parkKey]uint64{}, perSub: map[int64]int{}, all: map[int64]struct{}{}}
}

func (p *parkedSet) has(sub int64, key string) bool {
	p.mu.RLock()
	_, ok := p.set[parkKey{sub, key}]
	if !ok {
		_, ok = p.all[sub]
	}
	p.mu.RUnlock()
	return ok
}

func (p *parkedSet) add(keys []parkKey) {
	if len(keys) == 0 {
		return
	}
	p.mu.Lock()
	p.version++
	for _, k := range keys {
		if _, all := p.all[k.sub]; all {
			continue
		}
		if p.refreshing {
			p.added[k] = p.version
		}
		if _, ok := p.set[k]; !ok {
			p.perSub[k.sub]++
		}
		p.set[k] = p.version
		if p.perSub[k.sub] > maxKeysPerSub {
			p.markAll(k.sub)
		}
	}
	p.mu.Unlock()
}

// markAll replaces the keys of sub with the every-key marker. Called with
// p.mu held.
func (p *parkedSet) markAll(sub int64) {
	for k := range p.set {
		if k.sub == sub {
			delete(p.set, k)
		}
	}
	delete(p.perSub, sub)
	p.all[sub] = struct{}{}
	if p.refreshing {
		for k := range p.added {
			if k.sub == sub {
				delete(p.added, k)
			}
		}
		p.addedAll[sub] = struct{}{}
	}
}

// current returns the version to pass to removeUnlessNewer: take it before
// checking the table.
func (p *parkedSet) current() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.version
}

// removeUnlessNewer removes k unless it was added after version v. A
// subscription's every-key marker stays until a refresh.
func (p *parkedSet) removeUnlessNewer(k parkKey, v uint64) {
	p.mu.Lock()
	if got, ok := p.set[k]; ok && got <= v {
		delete(p.set, k)
		if p.perSub[k.sub]--; p.perSub[k.sub] <= 0 {
			delete(p.perSub, k.sub)
		}
		if p.refreshing {
			delete(p.added, k)
		}
	}
	p.mu.Unlock()
}

// len is the number of keys and every-key markers held.
func (p *parkedSet) len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.set) + len(p.all)
}

// beginRefresh starts recording additions; endRefresh replaces the set
// with loaded plus those additions, marking every subscription over the
// bound. A nil loaded keeps the set as it is.
func (p *parkedSet) beginRefresh() {
	p.mu.Lock()
	if p.refreshes == 0 {
		p.added = map[parkKey]uint64{}
		p.addedAll = map[int64]struct{}{}
	}
	p.refreshes++
	p.refreshing = true
	p.mu.Unlock()
}

func (p *parkedSet) endRefresh(loaded map[parkKey]uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if loaded != nil {
		for k, v := range p.added {
			loaded[k] = v
		}
		all := make(map[int64]struct{}, len(p.addedAll))
		for sub := range p.addedAll {
			all[sub] = struct{}{}
		}
		p.set, p.perSub, p.all = loaded, map[int64]int{}, all
		for k := range p.set {
			p.perSub[k.sub]++
		}
		p.refreshing = false // markAll need not track these in added
		for sub, n := range p.perSub {
			if n > maxKeysPerSub {
				p.markAll(sub)
			}
		}
		for sub := range p.all {
			for k := range p.set {
				if k.sub == sub {
					delete(p.set, k)
				}
			}
			delete(p.perSub, sub)
		}
	}
	p.refreshes--
	p.refreshing = p.refreshes > 0
	if !p.refreshing {
		p.added, p.addedAll = nil, nil
	}
}

// maxGroupEvents bounds the events one grouped insert carries.
const maxGroupEvents = 1024

// parkGroup coalesces concurrent inserts into the retry queue (group
// commit): a caller that finds no insert running leads, inserting its own
// events with those of every caller that joined meanwhile in one
// statement, then hands the lead to the next waiting caller, if any. Each
// caller returns once the statement carrying its events committed (nil)
// or failed (that statement's error), so the durability of Park is
// unchanged; what changes is the number of statements and transactions
// while many lanes park at once (an endpoint whose breaker is open parks
// from every lane). The zero value is ready.
type parkGroup struct {
	mu      sync.Mutex
	running bool
	waiting []*parkCall
}

// parkCall is one caller's events and where its outcome goes: an error
// (nil when committed), or the lead.
type parkCall struct {
	events []deliver.Parked
	done   chan parkOutcome
}

type parkOutcome struct {
	err  error
	lead bool
}

// do inserts events through insert, together with those of concurrent
// callers. The statement runs under the leading caller's ctx; a caller
// whose ctx ends while it waits returns ctx's error, and its events may
// still be inserted (parking is idempotent).
func (g *parkGroup) do(ctx context.Context, events []deliver.Parked, insert func(context.Context, []deliver.Parked) error) error {
	c := &parkCall{events: events, done: make(chan parkOutcome, 1)}
	g.mu.Lock()
	lead := !g.running
	g.running = true
	if !lead {
		g.waiting = append(g.waiting, c)
	}
	g.mu.Unlock()
	if !lead {
		out, err := g.wait(ctx, c)
		if err != nil || !out.lead {
			return cmp.Or(err, out.err)
		}
	}
	g.lead(ctx, c, insert)
	return (<-c.done).err
}

// wait waits for c's outcome or for ctx; when ctx ends first and c was
// not taken into a statement yet, c leaves the queue.
func (g *parkGroup) wait(ctx context.Context, c *parkCall) (parkOutcome, error) {
	select {
	case out := <-c.done:
		return out, nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	if i := slices.Index(g.waiting, c); i >= 0 {
		g.waiting = slices.Delete(g.waiting, i, i+1)
		g.mu.Unlock()
		return parkOutcome{}, ctx.Err()
	}
	g.mu.Unlock()
	// Taken already: its statement finishes under its leader's ctx, or
	// the lead came to c and must be exercised (and passed on), even with
	// ctx ended (the statement then fails at once and the lead moves on).
	return <-c.done, nil
}

// lead runs one statement with first's events and those of the calls
// waiting, up to maxGroupEvents, reports its outcome to each, and hands
// the lead to the next waiting call or ends the group's run.
func (g *parkGroup) lead(ctx context.Context, first *parkCall, insert func(context.Context, []deliver.Parked) error) {
	g.mu.Lock()
	n, events := 0, len(first.events)
	for n < len(g.waiting) && events+len(g.waiting[n].events) <= maxGroupEvents {
		events += len(g.waiting[n].events)
		n++
	}
	calls := append([]*parkCall{first}, g.waiting[:n]...)
	g.waiting = slices.Delete(g.waiting, 0, n)
	g.mu.Unlock()

	all := calls[0].events
	if len(calls) > 1 {
		all = make([]deliver.Parked, 0, events)
		for _, c := range calls {
			all = append(all, c.events...)
		}
	}
	err := insert(ctx, all)
	for _, c := range calls {
		c.done <- parkOutcome{err: err}
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.waiting) == 0 {
		g.running = false
		return
	}
	next := g.waiting[0]
	g.waiting = slices.Delete(g.waiting, 0, 1)
	next.done <- parkOutcome{lead: true}
}
