package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Errors adapters wrap so that admin answers with the right status. Wrap
// them with a message for the operator: fmt.Errorf("subscriber %d: %w", id,
// admin.ErrNotFound), or use NotFound and Invalid.
var (
	// ErrNotFound: the thing asked for does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request cannot be carried out as asked (400).
	ErrInvalid = errors.New("invalid request")
)

// errForbidden marks a refused form submission (403).
var errForbidden = errors.New("forbidden")

// errNotWired is returned for routes whose interface is nil in Options.
var errNotWired = errors.New("not wired")

// NotFound returns an error wrapping ErrNotFound with a formatted message.
func NotFound(format string, args ...any) error {
	return &kindError{kind: ErrNotFound, msg: fmt.Sprintf(format, args...)}
}

// Invalid returns an error wrapping ErrInvalid with a formatted message.
func Invalid(format string, args ...any) error {
	return &kindError{kind: ErrInvalid, msg: fmt.Sprintf(format, args...)}
}

// MarkInvalid returns err marked as ErrInvalid (400), keeping its message
// and its chain; for adapters whose callee reports bad input with plain
// errors. It returns nil for nil.
func MarkInvalid(err error) error { return mark(ErrInvalid, err) }

// MarkNotFound returns err marked as ErrNotFound (404), keeping its message
// and its chain. It returns nil for nil.
func MarkNotFound(err error) error { return mark(ErrNotFound, err) }

func mark(kind, err error) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: kind, msg: err.Error(), cause: err}
}

// kindError is a message that is one of the sentinel kinds; its text is the
// message alone, without the sentinel's.
type kindError struct {
	kind  error
	msg   string
	cause error // optional
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// notWired says that a part of walhook is not available to this server.
func notWired(part string) error {
	return fmt.Errorf("%s is not available in this walhook process (the %s interface is not wired into the admin server): %w", part, part, errNotWired)
}

// httpStatus maps an error to its HTTP status. It is the only place that
// does.
func httpStatus(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errNotWired):
		return http.StatusNotImplemented
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// errorBody is the JSON shape of every API error.
type errorBody struct {
	Error string `json:"error"`
}

// writeError answers with err as JSON and logs server-side failures.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := httpStatus(err)
	if code >= 500 && code != http.StatusNotImplemented {
		s.log.Error().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("admin request")
	}
	writeJSON(w, code, errorBody{Error: err.Error()})
}

// writeJSON answers with v as indented JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error": "encode response: ` + jsonEscape(err.Error()) + `"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
