package store

import (
	"sync"
)

// parkKey is one row of one subscription.
type parkKey struct {
	sub int64
	key string
}

// parkedSet remembers which (subscription, order key) pairs have rows in the
// retry queue that block later events (pending, held or disabled). It may
// say yes when the answer is no (then an event parks needlessly, which is
// safe) but never no while a row parked by this process is undelivered.
//
// Each key carries the version of its latest add, so that the retry worker
// removes a key only when nothing was parked under it since it checked the
// table.
type parkedSet struct {
	mu      sync.RWMutex
	set     map[parkKey]uint64
	version uint64
	// During a refresh, keys added meanwhile are kept in added too, so
	// that the reload (a snapshot taken earlier) does not forget them.
	refreshing bool
	added      map[parkKey]uint64
}

func newParkedSet() *parkedSet {
	return &parkedSet{set: map[parkKey]uint64{}}
}

func (p *parkedSet) has(sub int64, key string) bool {
	p.mu.RLock()
	_, ok := p.set[parkKey{sub, key}]
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
		p.set[k] = p.version
		if p.refreshing {
			p.added[k] = p.version
		}
	}
	p.mu.Unlock()
}

// current returns the version to pass to removeUnlessNewer: take it before
// checking the table.
func (p *parkedSet) current() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.version
}

// removeUnlessNewer removes k unless it was added after version v.
func (p *parkedSet) removeUnlessNewer(k parkKey, v uint64) {
	p.mu.Lock()
	if got, ok := p.set[k]; ok && got <= v {
		delete(p.set, k)
		if p.refreshing {
			delete(p.added, k)
		}
	}
	p.mu.Unlock()
}

func (p *parkedSet) len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.set)
}

// beginRefresh starts recording additions; endRefresh replaces the set
// with loaded plus those additions. A nil loaded keeps the set as it is.
func (p *parkedSet) beginRefresh() {
	p.mu.Lock()
	p.refreshing = true
	p.added = map[parkKey]uint64{}
	p.mu.Unlock()
}

func (p *parkedSet) endRefresh(loaded map[parkKey]uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if loaded != nil {
		for k, v := range p.added {
			loaded[k] = v
		}
		p.set = loaded
	}
	p.refreshing = false
	p.added = nil
}
