package store

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// retryStats count what the retry worker did, for metrics.
type retryStats struct {
	delivered, rescheduled, failed, unattempted atomic.Int64
	// queue holds the latest queue depth read by housekeeping.
	queue atomic.Pointer[QueueDepth]
}

// collector exposes the store's counters, read from its atomics at scrape
// time (no database query at scrape). Names follow walhook_store_….
type collector struct {
	db    *DB
	descs map[string]*prometheus.Desc
}

func newCollector(db *DB) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("walhook_store_"+name, help, labels, nil)
	}
	return &collector{db: db, descs: map[string]*prometheus.Desc{
		"log_written":   d("log_attempts_written_total", "Delivery attempts written to the delivery log and counters."),
		"log_blocked":   d("log_record_blocked_total", "Record calls that waited because the recorder buffer was full."),
		"log_failures":  d("log_write_failures_total", "Batch writes of the delivery log that failed (and were retried)."),
		"log_lost":      d("log_attempts_lost_total", "Attempts not written at shutdown because the database was unreachable."),
		"log_rejected":  d("log_attempts_rejected_total", "Attempts whose delivery-log row the server refused."),
		"log_queued":    d("log_attempts_queued", "Attempts waiting to be written."),
		"cache_lookups": d("cache_lookups_total", "Subscription cache lookups by result.", "result"),
		"cache_loads":   d("cache_loads_total", "Subscription lookups read from the tables."),
		"cache_inval":   d("cache_invalidations_total", "Whole-cache invalidations."),
		"cache_evicted": d("cache_evictions_total", "Entries evicted from the subscription cache for room."),
		"retry_rows":    d("retry_attempts_total", "Retry-queue rows posted by this process, by outcome.", "outcome"),
		"retry_rounds":  d("retry_rounds_total", "Retry worker rounds."),
		"parked_keys":   d("parked_rows_tracked", "Rows (subscription, order key) known to have parked events."),
		"queue":         d("retry_queue_rows", "Retry-queue rows by status, as of the last housekeeping.", "status"),
	}}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	db, d := c.db, c.descs
	counter := func(k string, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d[k], prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(k string, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d[k], prometheus.GaugeValue, float64(v), labels...)
	}
	r := db.RecorderStats()
	counter("log_written", r.Written)
	counter("log_blocked", r.Blocked)
	counter("log_failures", r.Failures)
	counter("log_lost", r.Lost)
	counter("log_rejected", r.Rejected)
	gauge("log_queued", int64(r.Queued))
	cs := db.cache
	counter("cache_lookups", cs.hits.Load(), "hit")
	counter("cache_lookups", cs.misses.Load(), "miss")
	counter("cache_loads", cs.loads.Load())
	counter("cache_inval", cs.invalidations.Load())
	var evicted int64
	if m := cs.c.Metrics; m != nil {
		evicted = int64(m.KeysEvicted())
	}
	counter("cache_evicted", evicted)
	rs := &db.retry
	counter("retry_rows", rs.delivered.Load(), "delivered")
	counter("retry_rows", rs.rescheduled.Load(), "rescheduled")
	counter("retry_rows", rs.failed.Load(), "failed")
	counter("retry_rows", rs.unattempted.Load(), "unattempted")
	counter("retry_rounds", db.retryRounds.Load())
	gauge("parked_keys", int64(db.parked.len()))
	if q := rs.queue.Load(); q != nil {
		gauge("queue", q.Pending, "pending")
		gauge("queue", q.Held, "held")
		gauge("queue", q.Failed, "failed")
		gauge("queue", q.Disabled, "disabled")
	}
}

func (db *DB) registerMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	if err := reg.Register(newCollector(db)); err != nil {
		return fmt.Errorf("register store metrics: %w", err)
	}
	return nil
}
