package admin

import (
	"context"
	"encoding/json"
	"net/http"
)

func (s *Server) subscriberRoutes(add func(string, apiFunc)) {
	add("GET /api/v1/subscribers", s.apiListSubscribers)
	add("GET /api/v1/subscribers/{id}", s.apiGetSubscriber)
	add("POST /api/v1/subscribers/{id}/activate", s.apiSetActive(true))
	add("POST /api/v1/subscribers/{id}/deactivate", s.apiSetActive(false))
	add("POST /api/v1/subscribers/{id}/reset-counters", s.apiResetCounters)
	add("POST /api/v1/subscribers/{id}/test", s.apiTestSubscriber)
}

// subscribers returns the Subscribers interface or the 501 error.
func (s *Server) subscribers() (Subscribers, error) {
	if s.o.Subscribers == nil {
		return nil, notWired("Subscribers")
	}
	return s.o.Subscribers, nil
}

// listSubscribers returns every subscriber, ready for display.
func (s *Server) listSubscribers(ctx context.Context) ([]Subscriber, error) {
	sv, err := s.subscribers()
	if err != nil {
		return nil, err
	}
	list, err := sv.ListSubscribers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Subscriber, len(list))
	for i, sub := range list {
		out[i] = present(sub)
	}
	return out, nil
}

// getSubscriber returns one subscriber, ready for display.
func (s *Server) getSubscriber(ctx context.Context, id int64) (Subscriber, error) {
	sv, err := s.subscribers()
	if err != nil {
		return Subscriber{}, err
	}
	sub, err := sv.GetSubscriber(ctx, id)
	if err != nil {
		return Subscriber{}, err
	}
	return present(sub), nil
}

func (s *Server) apiListSubscribers(r *http.Request) (any, error) {
	list, err := s.listSubscribers(r.Context())
	if err != nil {
		return nil, err
	}
	return map[string]any{"subscribers": list}, nil
}

func (s *Server) apiGetSubscriber(r *http.Request) (any, error) {
	id, err := parseID("subscriber", r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return s.getSubscriber(r.Context(), id)
}

// apiSetActive activates or deactivates, answering with the subscriber.
func (s *Server) apiSetActive(active bool) apiFunc {
	return func(r *http.Request) (any, error) {
		return s.changeSubscriber(r, func(ctx context.Context, sv Subscribers, id int64) error {
			return sv.SetSubscriberActive(ctx, id, active)
		})
	}
}

func (s *Server) apiResetCounters(r *http.Request) (any, error) {
	return s.changeSubscriber(r, func(ctx context.Context, sv Subscribers, id int64) error {
		return sv.ResetSubscriberCounters(ctx, id)
	})
}

// changeSubscriber applies change to the subscriber named in the path and
// answers with its new state.
func (s *Server) changeSubscriber(r *http.Request, change func(context.Context, Subscribers, int64) error) (any, error) {
	id, err := parseID("subscriber", r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	sv, err := s.subscribers()
	if err != nil {
		return nil, err
	}
	if err := change(r.Context(), sv, id); err != nil {
		return nil, err
	}
	return s.getSubscriber(r.Context(), id)
}

// testPayloadExample shows a test body in error messages.
const testPayloadExample = `{"test": true} (any JSON object, or no body for the default test event)`

func (s *Server) apiTestSubscriber(r *http.Request) (any, error) {
	id, err := parseID("subscriber", r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	var payload json.RawMessage
	if err := decodeOptionalBody(r, &payload, testPayloadExample); err != nil {
		return nil, err
	}
	return s.testSubscriber(r.Context(), id, payload)
}

// testSubscriber sends a test delivery; an empty payload sends the
// default test event, any other must be a JSON object.
func (s *Server) testSubscriber(ctx context.Context, id int64, payload json.RawMessage) (TestResult, error) {
	if s.o.Tester == nil {
		return TestResult{}, notWired("Tester")
	}
	if len(payload) > 0 && !isJSONObject(payload) {
		return TestResult{}, Invalid("test payload must be a JSON object, e.g. %s", testPayloadExample)
	}
	return s.o.Tester.TestSubscriber(ctx, id, payload)
}
