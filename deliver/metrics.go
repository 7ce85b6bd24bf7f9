package deliver

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Request outcomes, the values of walhook_deliver_requests_total{outcome}.
const (
	outcomeSuccess  = "success"
	outcomeHTTP     = "http_error"
	outcomeRedirect = "redirect"
	outcomeTimeout  = "timeout"
	outcomeNetwork  = "network_error"
	outcomePolicy   = "policy"
)

// Park reasons, the values of walhook_deliver_parked_total{reason}.
const (
	reasonFailed    = "failed"
	reasonQueueFull = "queue_full"
	reasonMaxWait   = "max_wait"
	reasonOrder     = "order"
	reasonBroken    = "endpoint_failing"
)

// How events are settled, the values of walhook_deliver_settled_total{how}.
const (
	settledDelivered = "delivered"
	settledParked    = "parked"
	settledFailed    = "failed"
)

// metrics are the dispatcher's collectors. No label carries a URL or a
// subscriber: their number is unbounded.
type metrics struct {
	requests map[string]prometheus.Counter
	duration prometheus.Histogram
	inflight prometheus.Gauge
	parked   map[string]prometheus.Counter
	settled  map[string]prometheus.Counter
	queued   prometheus.GaugeFunc
	all      []prometheus.Collector
}

func newMetrics(queued func() float64) *metrics {
	req := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "walhook_deliver_requests_total",
		Help: "HTTP requests made to webhook receivers, by outcome.",
	}, []string{"outcome"})
	parked := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "walhook_deliver_parked_total",
		Help: "Events handed to the durable retry queue, by reason.",
	}, []string{"reason"})
	m := &metrics{
		requests: map[string]prometheus.Counter{},
		parked:   map[string]prometheus.Counter{},
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "walhook_deliver_request_duration_seconds",
			Help:    "Duration of HTTP requests to webhook receivers, from dial to the last byte read.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "walhook_deliver_inflight",
			Help: "HTTP requests in flight.",
		}),
		settled: map[string]prometheus.Counter{},
		queued: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "walhook_deliver_queue_depth",
			Help: "Events waiting in memory for a delivery slot.",
		}, queued),
	}
	for _, o := range []string{outcomeSuccess, outcomeHTTP, outcomeRedirect, outcomeTimeout, outcomeNetwork, outcomePolicy} {
		m.requests[o] = req.WithLabelValues(o)
	}
	for _, r := range []string{reasonFailed, reasonQueueFull, reasonMaxWait, reasonOrder, reasonBroken} {
		m.parked[r] = parked.WithLabelValues(r)
	}
	settled := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "walhook_deliver_settled_total",
		Help: "Events settled, by how: delivered, parked or failed.",
	}, []string{"how"})
	for _, h := range []string{settledDelivered, settledParked, settledFailed} {
		m.settled[h] = settled.WithLabelValues(h)
	}
	m.all = []prometheus.Collector{req, parked, settled, m.duration, m.inflight, m.queued}
	return m
}

// register adds the collectors to r (nil: none).
func (m *metrics) register(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	for _, c := range m.all {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("register deliver metrics: %w", err)
		}
	}
	return nil
}

// outcome maps an attempt to its requests_total label.
func outcome(a Attempt) string {
	switch {
	case a.Success():
		return outcomeSuccess
	case a.Status >= 300 && a.Status < 400:
		return outcomeRedirect
	case a.Status != 0:
		return outcomeHTTP
	case a.Error == "timeout":
		return outcomeTimeout
	case strings.HasPrefix(a.Error, "policy:"):
		return outcomePolicy
	}
	return outcomeNetwork
}
