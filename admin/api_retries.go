package admin

import (
	"net/http"
	"strings"
)

func (s *Server) retryRoutes(add func(string, apiFunc)) {
	add("GET /api/v1/retries", s.apiQueueDepth)
	add("POST /api/v1/retries/redeliver", s.apiRedeliver)
}

func (s *Server) retries() (Retries, error) {
	if s.o.Retries == nil {
		return nil, notWired("Retries")
	}
	return s.o.Retries, nil
}

// QueueReport is the answer to GET /api/v1/retries.
type QueueReport struct {
	QueueDepth map[string]int64 `json:"queue_depth"`
}

func (s *Server) apiQueueDepth(r *http.Request) (any, error) {
	rq, err := s.retries()
	if err != nil {
		return nil, err
	}
	d, err := rq.QueueDepth(r.Context())
	if err != nil {
		return nil, err
	}
	if d == nil {
		d = map[string]int64{}
	}
	return QueueReport{QueueDepth: d}, nil
}

const redeliverExample = `{"subscriber": 3, "event_id": "evt_…"} (both optional; none redelivers every failed entry)`

// RedeliverResult is the answer to POST /api/v1/retries/redeliver.
type RedeliverResult struct {
	Redelivered int `json:"redelivered"`
}

func (s *Server) apiRedeliver(r *http.Request) (any, error) {
	var req Redelivery
	if err := decodeOptionalBody(r, &req, redeliverExample); err != nil {
		return nil, err
	}
	req.EventID = strings.TrimSpace(req.EventID)
	if req.SubscriberID < 0 {
		return nil, Invalid("subscriber %d is not a subscriber id; use a positive id or leave it out", req.SubscriberID)
	}
	rq, err := s.retries()
	if err != nil {
		return nil, err
	}
	n, err := rq.Redeliver(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return RedeliverResult{Redelivered: n}, nil
}
