package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// decodeBody decodes r's body, one JSON object, into dst. Unknown fields,
// wrong types, malformed JSON and trailing data are ErrInvalid errors that
// say what to send instead; example is a valid body for the message. An
// over-large body is an *http.MaxBytesError (413).
func decodeBody(r *http.Request, dst any, example string) error {
	return decode(r, dst, example, false)
}

// decodeOptionalBody is decodeBody where an empty body leaves dst as it is.
func decodeOptionalBody(r *http.Request, dst any, example string) error {
	return decode(r, dst, example, true)
}

func decode(r *http.Request, dst any, example string, optional bool) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) {
			if optional {
				return nil
			}
			return Invalid("request body is empty; send a JSON object, e.g. %s", example)
		}
		return describeJSONError(err, example)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return bodyTooLarge(mbe)
		}
		return Invalid("request body has more after the JSON object; send exactly one object, e.g. %s", example)
	}
	return nil
}

// describeJSONError turns a decoding error into a message for the sender.
func describeJSONError(err error, example string) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return bodyTooLarge(mbe)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Invalid("request body ends in the middle of a JSON value; send a complete object, e.g. %s", example)
	case errors.As(err, &syn):
		return Invalid("request body is not valid JSON (at byte %d: %v); send an object like %s", syn.Offset, syn, example)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return Invalid("request body must be a JSON object, not %s; send e.g. %s", typ.Value, example)
		}
		return Invalid("field %q must be %s, not %s; e.g. %s", typ.Field, jsonKind(typ.Type), typ.Value, example)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return Invalid("unknown field %s; the request takes %s", strings.TrimPrefix(err.Error(), "json: unknown field "), example)
	default:
		return Invalid("read request body: %v", err)
	}
}

func bodyTooLarge(mbe *http.MaxBytesError) error {
	return fmt.Errorf("request body is larger than %d bytes; send a smaller request: %w", mbe.Limit, mbe)
}

// jsonKind names the JSON kind a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

// query reads URL query parameters, refusing names a route does not take.
type query struct {
	v       url.Values
	allowed []string
}

// newQuery checks r's query parameters against allowed.
func newQuery(r *http.Request, allowed ...string) (query, error) {
	q := query{v: r.URL.Query(), allowed: allowed}
	for name := range q.v {
		if !contains(allowed, name) {
			return q, Invalid("unknown query parameter %q; this route takes %s", name, listOr(allowed))
		}
	}
	return q, nil
}

func (q query) str(name string) string { return strings.TrimSpace(q.v.Get(name)) }

// intIn parses an integer parameter in [lo, hi], def when absent.
func (q query) intIn(name string, def, lo, hi int) (int, error) {
	s := q.str(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, Invalid("%s=%q is not an integer from %d to %d", name, s, lo, hi)
	}
	return n, nil
}

// since parses an RFC 3339 time or a duration back from now ("24h").
func (q query) since(name string, now time.Time) (time.Time, error) {
	s := q.str(name)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, Invalid("%s=%q is neither an RFC 3339 time (2026-11-29T03:00:00Z) nor a duration back from now (24h, 90m)", name, s)
}

// parseID parses a positive int64 id from a path or form value.
func parseID(what, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, Invalid("%s id %q is not a positive integer; use an id from the list", what, s)
	}
	return id, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// listOr formats names as "a, b or c".
func listOr(names []string) string {
	switch len(names) {
	case 0:
		return "no parameters"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// isJSONObject reports whether b is valid JSON whose value is an object.
func isJSONObject(b []byte) bool {
	t := bytes.TrimSpace(b)
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}
