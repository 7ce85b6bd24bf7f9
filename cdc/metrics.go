package cdc

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are a Stream's collectors.
type metrics struct {
	changes         [Message + 1]prometheus.Counter // by Kind
	transactions    prometheus.Counter
	reconnects      prometheus.Counter
	heartbeatErrors prometheus.Counter
	receivedLSN     prometheus.Gauge
	flushedLSN      prometheus.Gauge
	lagBytes        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	changes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "walhook_cdc_changes_total", Help: "Changes handed to the handler, by kind.",
	}, []string{"kind"})
	m := &metrics{
		transactions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_cdc_transactions_total", Help: "Committed transactions handed to the handler."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_cdc_reconnects_total", Help: "Replication connections lost and retried."}),
		heartbeatErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_cdc_heartbeat_errors_total", Help: "Heartbeat messages that could not be written."}),
		receivedLSN: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "walhook_cdc_received_lsn_bytes", Help: "WAL position of the last message received."}),
		flushedLSN: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "walhook_cdc_flushed_lsn_bytes", Help: "Flush position last reported to the server."}),
		lagBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "walhook_cdc_lag_bytes", Help: "Server WAL end minus the reported flush position."}),
	}
	for k := Insert; k <= Message; k++ {
		m.changes[k] = changes.WithLabelValues(k.String())
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{changes, m.transactions, m.reconnects, m.heartbeatErrors, m.receivedLSN, m.flushedLSN, m.lagBytes} {
			register(reg, c)
		}
	}
	return m
}

// register registers c, tolerating a collector already registered by
// another Stream on the same registry (the first one keeps reporting).
func register(reg prometheus.Registerer, c prometheus.Collector) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic(err)
		}
	}
}
