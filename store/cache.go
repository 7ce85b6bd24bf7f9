package store

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/walhook/walhook/router"
	"golang.org/x/sync/singleflight"
)

// cacheEntry is one cached lookup. gen is the cache generation it was
// loaded in: an entry from an older generation is a miss, which is how
// Invalidate drops everything at once without racing readers.
type cacheEntry struct {
	gen  uint64
	subs []*router.Subscription
}

// subCache caches subscription lookups by table+"/"+event. It is never the
// source of truth: a miss reads the tables.
type subCache struct {
	c   *ristretto.Cache[string, cacheEntry]
	ttl time.Duration
	gen atomic.Uint64

	hits, misses, loads, invalidations atomic.Int64

	// sf merges concurrent loads of one key in one generation.
	sf singleflight.Group

	mu   sync.Mutex
	keys map[string]string // cache key → table, for ClearCache by table
}

func newSubCache(ttl time.Duration) (*subCache, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, cacheEntry]{
		NumCounters: 100_000,
		MaxCost:     10_000, // one per (table, event) pair
		BufferItems: 64,
		Metrics:     true,
	})
	if err != nil {
		return nil, err
	}
	return &subCache{c: c, ttl: ttl, keys: map[string]string{}}, nil
}

func (s *subCache) close() { s.c.Close() }

// get returns a cached lookup of the current generation.
func (s *subCache) get(key string) ([]*router.Subscription, bool) {
	e, ok := s.c.Get(key)
	if !ok || e.gen != s.gen.Load() {
		s.misses.Add(1)
		return nil, false
	}
	s.hits.Add(1)
	return e.subs, true
}

// set stores a lookup loaded in generation gen, unless the cache was
// invalidated since; it waits until the value is visible to get.
func (s *subCache) set(key, table string, gen uint64, subs []*router.Subscription) {
	if s.gen.Load() != gen {
		return
	}
	s.c.SetWithTTL(key, cacheEntry{gen: gen, subs: subs}, 1, s.ttl)
	s.c.Wait()
	s.mu.Lock()
	s.keys[key] = table
	s.mu.Unlock()
}

// invalidateAll starts a new generation: every cached entry becomes a miss.
func (s *subCache) invalidateAll() {
	s.gen.Add(1)
	s.invalidations.Add(1)
}

// clear drops entries: all of them, those of table, or table+"/"+event.
func (s *subCache) clear(table, event string) {
	if table == "" {
		s.invalidateAll()
		s.c.Clear()
		s.mu.Lock()
		clear(s.keys)
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.keys {
		if t == table && (event == "" || k == table+"/"+event) {
			s.c.Del(k)
			delete(s.keys, k)
		}
	}
	s.c.Wait()
}

// CacheStats describe the subscription cache (webhook_cache stats).
type CacheStats struct {
	Hits   int64
	Misses int64
	// HitRatio is Hits / (Hits + Misses), 0 before any lookup.
	HitRatio float64
	// Loads counts lookups read from the tables.
	Loads int64
	// Keys is the number of (table, event) entries held.
	Keys int
	// Evictions counts entries the cache evicted for room (not expiry).
	Evictions uint64
	// Invalidations counts whole-cache invalidations (WAL-driven or
	// explicit).
	Invalidations int64
	TTL           time.Duration
}

func (s *subCache) stats() CacheStats {
	st := CacheStats{
		Hits: s.hits.Load(), Misses: s.misses.Load(), Loads: s.loads.Load(),
		Invalidations: s.invalidations.Load(), TTL: s.ttl,
	}
	if n := st.Hits + st.Misses; n > 0 {
		st.HitRatio = float64(st.Hits) / float64(n)
	}
	if m := s.c.Metrics; m != nil {
		st.Evictions = m.KeysEvicted()
	}
	s.mu.Lock()
	for k := range s.keys {
		if _, ok := s.c.Get(k); !ok {
			delete(s.keys, k) // expired or evicted
		}
	}
	st.Keys = len(s.keys)
	s.mu.Unlock()
	return st
}
