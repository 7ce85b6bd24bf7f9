package admin

import (
	"context"
	"net/http"
)

func (s *Server) apiStatus(r *http.Request) (any, error) {
	return s.status(r.Context()), nil
}

// status assembles the overview from every wired interface. A part that
// fails is listed in Problems; the rest is still shown.
func (s *Server) status(ctx context.Context) Status {
	subs, err := s.wiredSubscribers(ctx)
	return s.statusWith(ctx, subs, err)
}

// wiredSubscribers lists subscribers, or nothing when none are wired.
func (s *Server) wiredSubscribers(ctx context.Context) ([]Subscriber, error) {
	if s.o.Subscribers == nil {
		return nil, nil
	}
	return s.listSubscribers(ctx)
}

// statusWith is status with the subscribers already listed (subsErr is
// the listing's error).
func (s *Server) statusWith(ctx context.Context, subs []Subscriber, subsErr error) Status {
	st := Status{
		Version:             s.o.Version,
		StartedAt:           s.o.StartedAt,
		SubscribersByHealth: map[string]int{Healthy: 0, Warning: 0, Critical: 0},
		QueueDepth:          map[string]int64{},
	}
	parts := []struct {
		name string
		read func(context.Context, *Status) error
	}{
		{"subscribers", func(context.Context, *Status) error { return countSubscribers(&st, subs, subsErr) }},
		{"delivery log", s.statusLogs},
		{"retry queue", s.statusQueue},
		{"pause state", s.statusPause},
		{"slot lag", s.statusLag},
		{"cache", s.statusCache},
	}
	for _, p := range parts {
		if err := p.read(ctx, &st); err != nil {
			st.Problems = append(st.Problems, p.name+": "+err.Error())
		}
	}
	if err := s.ready(ctx); err != nil {
		st.NotReadyReason = err.Error()
	} else {
		st.Ready = true
	}
	return st
}

// countSubscribers counts subscribers by state and health.
func countSubscribers(st *Status, list []Subscriber, err error) error {
	if err != nil {
		return err
	}
	for _, sub := range list {
		if sub.IsActive {
			st.SubscribersActive++
		} else {
			st.SubscribersInactive++
		}
		st.SubscribersByHealth[sub.Health]++
	}
	return nil
}

func (s *Server) statusLogs(ctx context.Context, st *Status) error {
	if s.o.Logs == nil {
		return nil
	}
	ls, err := s.o.Logs.LogStats(ctx, 1)
	if err != nil {
		return err
	}
	st.Deliveries24h, st.Failed24h, st.SuccessRate24h = ls.Total, ls.Failed, ls.SuccessRate
	return nil
}

func (s *Server) statusQueue(ctx context.Context, st *Status) error {
	if s.o.Retries == nil {
		return nil
	}
	d, err := s.o.Retries.QueueDepth(ctx)
	if err != nil {
		return err
	}
	for k, v := range d {
		st.QueueDepth[k] = v
	}
	return nil
}

func (s *Server) statusPause(ctx context.Context, st *Status) error {
	if s.o.Control == nil {
		return nil
	}
	p, err := s.o.Control.PauseState(ctx)
	st.Pause = p
	return err
}

func (s *Server) statusLag(ctx context.Context, st *Status) error {
	if s.o.Lag == nil {
		return nil
	}
	n, err := s.o.Lag.SlotLagBytes(ctx)
	st.SlotLagBytes = n
	return err
}

func (s *Server) statusCache(ctx context.Context, st *Status) error {
	if s.o.Cache == nil {
		return nil
	}
	c, err := s.o.Cache.CacheStats(ctx)
	st.Cache = c
	return err
}
