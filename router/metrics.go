package router

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

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
	var err error
	if events, err = register(reg, events); err != nil {
		return nil, err
	}
	if changesSkipped, err = register(reg, changesSkipped); err != nil {
		return nil, err
	}
	if txns, err = register(reg, txns); err != nil {
		return nil, err
	}
	if truncates, err = register(reg, truncates); err != nil {
		return nil, err
	}
	if invalidations, err = register(reg, invalidations); err != nil {
		return nil, err
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

// register registers c on reg (when reg is not nil). When an identical
// collector is already registered, by an earlier Router on the same
// registry (after a leadership change, say), that one is used, so counts
// carry on.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
