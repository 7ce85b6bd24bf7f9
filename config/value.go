package config

import (
	"math"

	"go.yaml.in/yaml/v3"
)

// value decodes n into a JSON-compatible value: string, int, float64,
// bool, nil, []any or map[string]any. Strings are expanded like every
// scalar; numbers, booleans and null keep their YAML type; timestamps stay
// strings. It reports false after recording a problem.
func (d *decoder) value(n *yaml.Node, key string, depth int) (any, bool) {
	if n = d.resolve(n); n == nil {
		return nil, false
	}
	if depth >= maxProjectionDepth {
		d.errorf(n, key, "value nests deeper than %d levels; flatten it", maxProjectionDepth)
		return nil, false
	}
	switch n.Kind {
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		ok := true
		for i, item := range n.Content {
			v, vok := d.value(item, index(key, i), depth+1)
			out = append(out, v)
			ok = ok && vok
		}
		return out, ok
	case yaml.MappingNode:
		out := map[string]any{}
		ok := true
		d.pairs(n, key, func(k, v *yaml.Node) {
			val, vok := d.value(v, join(key, k.Value), depth+1)
			out[k.Value] = val
			ok = ok && vok
		})
		return out, ok
	}
	return d.scalarValue(n, key)
}

// scalarValue decodes a scalar node into its typed value.
func (d *decoder) scalarValue(n *yaml.Node, key string) (any, bool) {
	switch n.ShortTag() {
	case "!!null":
		return nil, true
	case "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			d.errorf(n, key, "cannot read %q as a value: %v", n.Value, err)
			return nil, false
		}
		if f, isFloat := v.(float64); isFloat && (math.IsNaN(f) || math.IsInf(f, 0)) {
			d.errorf(n, key, "%s is not a finite number; JSON cannot carry it, write a number or a quoted string", n.Value)
			return nil, false
		}
		return v, true
	}
	s, err := expand(n.Value, d.env)
	if err != nil {
		d.errorf(n, key, "%v", err)
		return nil, false
	}
	return s, true
}
