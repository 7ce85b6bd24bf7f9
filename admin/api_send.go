package admin

import (
	"encoding/json"
	"net/http"
	"strings"
)

func (s *Server) sendRoutes(add func(string, apiFunc)) {
	add("POST /api/v1/send", s.apiSend)
}

// sendRequest is POST /api/v1/send's body.
type sendRequest struct {
	Table   string          `json:"table"`
	Key     any             `json:"key"`
	Event   string          `json:"event"`
	Context json.RawMessage `json:"context"`
}

const sendExample = `{"table": "public.orders", "key": 456, "event": "paid", "context": {"payment_method": "stripe"}}`

// SendResult is the answer to POST /api/v1/send.
type SendResult struct {
	Routed int `json:"routed"`
}

func (s *Server) apiSend(r *http.Request) (any, error) {
	var req sendRequest
	if err := decodeBody(r, &req, sendExample); err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	if s.o.Sender == nil {
		return nil, notWired("Sender")
	}
	n, err := s.o.Sender.Send(r.Context(), req.Table, req.Key, req.Event, req.Context)
	if err != nil {
		return nil, err
	}
	return SendResult{Routed: n}, nil
}

// validate checks the fields and normalises an absent or null context.
func (q *sendRequest) validate() error {
	q.Table, q.Event = strings.TrimSpace(q.Table), strings.TrimSpace(q.Event)
	switch {
	case q.Table == "":
		return Invalid("table is required; e.g. %s", sendExample)
	case !strings.Contains(q.Table, "."):
		return Invalid("table %q is not schema-qualified; write it as schema.table, e.g. public.%s", q.Table, q.Table)
	case q.Event == "":
		return Invalid("event is required; e.g. %s", sendExample)
	}
	if err := validKey(q.Key); err != nil {
		return err
	}
	if c := strings.TrimSpace(string(q.Context)); c == "" || c == "null" {
		q.Context = nil
	} else if !isJSONObject(q.Context) {
		return Invalid("context must be a JSON object, e.g. {\"payment_method\": \"stripe\"}")
	}
	return nil
}

// validKey accepts a scalar primary key or an object of scalar columns.
func validKey(key any) error {
	switch k := key.(type) {
	case nil:
		return Invalid("key is required: the row's primary key, a value (456) or an object of columns ({\"id\": 456})")
	case string, json.Number, bool:
		return nil
	case map[string]any:
		if len(k) == 0 {
			return Invalid("key object is empty; name the primary key columns, e.g. {\"id\": 456}")
		}
		for col, v := range k {
			switch v.(type) {
			case string, json.Number, bool:
			default:
				return Invalid("key column %q must be a string, number or boolean", col)
			}
		}
		return nil
	default:
		return Invalid("key must be a value (456) or an object of columns ({\"id\": 456}), not an array")
	}
}
