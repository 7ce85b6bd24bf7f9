package router

import "github.com/prometheus/client_golang/prometheus"

// metrics are the router's collectors. Counters are curried once so the hot
// path does no label lookups.
type metrics struct {
	submitted     prometheus.Counter
	held          prometheus.Counter
	dropInactive  prometheus.Counter
	dropPaused    prometheus.Counter
	dropDisabled  prometheus.Counter
	dropSkipMsg   prometheus.Counter
	failBuild     prometheus.Counter
	failOldValues prometheus.Counter
	failMessage   prometheus.Counter
	transactions  prometheus.Counter
	truncates     prometheus.Counter
	invalidations prometheus.Counter
}

// Reasons an event is dropped or fails, as metric labels.
const (
	reasonInactive    = "inactive"
	reasonPaused      = "paused"
	reasonDisabled    = "disabled"
	reasonSkipMessage = "skip_message"
	reasonBuild       = "build"
	reasonOldValues   = "old_values"
	reasonMessage     = "message"
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "walhook_router_events_total",
		Help: "Events the router produced, by outcome (submitted, held, dropped, failed) and reason.",
	}, []string{"outcome", "reason"})
	changesSkipped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "walhook_router_changes_skipped_total",
		Help: "Row changes consumed without routing, by reason (skip_message, disabled).",
	}, []string{"reason"})
	txns := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "walhook_router_transactions_total",
		Help: "Committed transactions routed and sealed.",
	})
	truncates := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "walhook_router_truncates_unsubscribed_total",
		Help: "Truncated tables no subscription asked to hear about.",
	})
	invalidations := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "walhook_router_subscription_invalidations_total",
		Help: "Changes to walhook's subscription tables seen in the stream.",
	})
	for _, c := range []prometheus.Collector{events, changesSkipped, txns, truncates, invalidations} {
		if reg == nil {
			break
		}
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return &metrics{
		submitted:     events.WithLabelValues("submitted", ""),
		held:          events.WithLabelValues("held", reasonPaused),
		dropInactive:  events.WithLabelValues("dropped", reasonInactive),
		dropPaused:    events.WithLabelValues("dropped", reasonPaused),
		dropDisabled:  changesSkipped.WithLabelValues(reasonDisabled),
		dropSkipMsg:   changesSkipped.WithLabelValues(reasonSkipMessage),
		failBuild:     events.WithLabelValues("failed", reasonBuild),
		failOldValues: events.WithLabelValues("failed", reasonOldValues),
		failMessage:   events.WithLabelValues("failed", reasonMessage),
		transactions:  txns,
		truncates:     truncates,
		invalidations: invalidations,
	}, nil
}
