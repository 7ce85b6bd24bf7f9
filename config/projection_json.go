package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// MarshalJSON writes the projection in the same shapes the YAML accepts,
// so it can be stored as JSONB and read back with ParseProjectionJSON: a
// JSON array of names when every field keeps a column under its own name,
// else an object in field order whose values are a column name,
// {"const": value} or a nested object (nested ones are always objects). A
// nil projection is null.
func (p *Projection) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := p.writeJSON(&b, true); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeJSON writes p; only the top level may be written as a list, since
// a list inside an object is refused.
func (p *Projection) writeJSON(b *bytes.Buffer, top bool) error {
	if p == nil {
		b.WriteString("null")
		return nil
	}
	list := top && p.isList()
	b.WriteByte("{["[btoi(list)])
	for i, f := range p.Fields {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, f.Key)
		if list {
			continue
		}
		b.WriteByte(':')
		if err := f.writeJSON(b); err != nil {
			return err
		}
	}
	b.WriteByte("}]"[btoi(list)])
	return nil
}

func (f *Field) writeJSON(b *bytes.Buffer) error {
	switch {
	case f.Nested != nil:
		return f.Nested.writeJSON(b, false)
	case f.HasConst:
		v, err := json.Marshal(f.Const)
		if err != nil {
			return fmt.Errorf("encode constant of field %s: %w", f.Key, err)
		}
		b.WriteString(`{"const":`)
		b.Write(v)
		b.WriteByte('}')
	default:
		writeJSONString(b, f.Column)
	}
	return nil
}

// isList reports whether every field keeps a column under its own name.
func (p *Projection) isList() bool {
	for _, f := range p.Fields {
		if f.Nested != nil || f.HasConst || f.Column != f.Key {
			return false
		}
	}
	return len(p.Fields) > 0
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func writeJSONString(b *bytes.Buffer, s string) {
	v, _ := json.Marshal(s) // a string always encodes
	b.Write(v)
}

// UnmarshalJSON reads what MarshalJSON writes; see ParseProjectionJSON.
func (p *Projection) UnmarshalJSON(b []byte) error {
	q, err := ParseProjectionJSON(b)
	if err != nil {
		return err
	}
	if q == nil {
		*p = Projection{}
		return nil
	}
	*p = *q
	return nil
}

// ParseProjectionJSON reads a projection stored as JSON, with the same
// shapes and rules as the YAML fields key: an array of column names, or an
// object whose values are a column name, null (the column of the same
// name), {"const": value} or a nested object. JSON null gives nil (every
// column). Numbers in constants become int when whole and in range, else
// float64.
func ParseProjectionJSON(b []byte) (*Projection, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil, nil
	}
	if !json.Valid(b) {
		return nil, errors.New("parse projection: not valid JSON")
	}
	return projectionFromJSON(b, "fields", 0)
}

func projectionFromJSON(b []byte, path string, depth int) (*Projection, error) {
	if depth >= maxProjectionDepth {
		return nil, fmt.Errorf("%s: fields nest deeper than %d levels; flatten the projection", path, maxProjectionDepth)
	}
	switch b[0] {
	case '[':
		return projectionListJSON(b, path)
	case '{':
		return projectionObjectJSON(b, path, depth)
	}
	return nil, fmt.Errorf("%s: fields must be an array of column names or an object, got %s", path, b)
}

func projectionListJSON(b []byte, path string) (*Projection, error) {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return nil, fmt.Errorf("%s: want an array of column names: %w", path, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: fields is empty; list at least one column", path)
	}
	p := &Projection{Fields: make([]Field, 0, len(names))}
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		switch {
		case n == "":
			return nil, fmt.Errorf("%s[%d]: column name is empty", path, i)
		case seen[n]:
			return nil, fmt.Errorf("%s[%d]: column %s is listed twice", path, i, n)
		}
		seen[n] = true
		p.Fields = append(p.Fields, Field{Key: n, Column: n})
	}
	return p, nil
}

func projectionObjectJSON(b []byte, path string, depth int) (*Projection, error) {
	pairs, err := jsonObject(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("%s: fields is empty; name at least one column", path)
	}
	p := &Projection{Fields: make([]Field, 0, len(pairs))}
	for _, kv := range pairs {
		f, err := fieldFromJSON(kv.key, kv.raw, join(path, kv.key), depth)
		if err != nil {
			return nil, err
		}
		p.Fields = append(p.Fields, f)
	}
	return p, nil
}

func fieldFromJSON(key string, raw json.RawMessage, path string, depth int) (Field, error) {
	f := Field{Key: key}
	if key == "" {
		return f, fmt.Errorf("%s: field name is empty", path)
	}
	switch raw[0] {
	case 'n':
		f.Column = key
	case '"':
		_ = json.Unmarshal(raw, &f.Column) // valid JSON string
		if f.Column == "" {
			return f, fmt.Errorf("%s: column name is empty", path)
		}
	case '{':
		return objectFieldFromJSON(f, raw, path, depth)
	default:
		return f, fmt.Errorf("%s: want a column name, {\"const\": value} or a nested object, got %s", path, raw)
	}
	return f, nil
}

func objectFieldFromJSON(f Field, raw json.RawMessage, path string, depth int) (Field, error) {
	pairs, err := jsonObject(raw)
	if err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	for _, kv := range pairs {
		if kv.key != "const" {
			continue
		}
		if len(pairs) != 1 {
			return f, fmt.Errorf("%s: a constant is written {\"const\": value} with no other keys", path)
		}
		c, err := constFromJSON(kv.raw)
		if err != nil {
			return f, fmt.Errorf("%s.const: %w", path, err)
		}
		f.Const, f.HasConst = c, true
		return f, nil
	}
	f.Nested, err = projectionFromJSON(raw, path, depth+1)
	return f, err
}

// jsonPair is one member of a JSON object, in document order.
type jsonPair struct {
	key string
	raw json.RawMessage
}

// jsonObject reads the members of a JSON object in order, refusing
// duplicate keys.
func jsonObject(b []byte) ([]jsonPair, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var out []jsonPair
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, fmt.Errorf("key %s appears twice; keep one", key)
		}
		seen[key] = true
		out = append(out, jsonPair{key, raw})
	}
	return out, nil
}

// constFromJSON decodes a constant, turning numbers into int or float64.
func constFromJSON(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return normalizeNumbers(v), nil
}

func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil && i >= math.MinInt && i <= math.MaxInt {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = normalizeNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalizeNumbers(x[k])
		}
	}
	return v
}
