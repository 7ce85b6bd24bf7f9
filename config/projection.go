package config

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxProjectionDepth bounds how deep projections and constants may nest.
const maxProjectionDepth = 16

// projection decodes fields: a list of column names, or a mapping whose
// values are a column name, {const: VALUE} or a nested mapping of the same
// form. Null gives nil (every column).
func (d *decoder) projection(n *yaml.Node, key string) *Projection {
	return d.projectionAt(n, key, 0)
}

func (d *decoder) projectionAt(n *yaml.Node, key string, depth int) *Projection {
	if n = d.resolve(n); n == nil || isNull(n) {
		return nil
	}
	if depth >= maxProjectionDepth {
		d.errorf(n, key, "fields nest deeper than %d levels; flatten the projection", maxProjectionDepth)
		return nil
	}
	switch n.Kind {
	case yaml.SequenceNode:
		return d.projectionList(n, key)
	case yaml.MappingNode:
		return d.projectionMap(n, key, depth)
	}
	d.errorf(n, key, "fields must be a list of column names like [id, email] or a mapping like {id: id, contact: {email: email}}, got %s", describe(n))
	return nil
}

// projectionList decodes [a, b, c].
func (d *decoder) projectionList(n *yaml.Node, key string) *Projection {
	if len(n.Content) == 0 {
		d.errorf(n, key, "fields is empty; list at least one column, or remove fields to send every column")
		return nil
	}
	p := &Projection{Fields: make([]Field, 0, len(n.Content))}
	seen := make(map[string]int, len(n.Content))
	for i, item := range n.Content {
		k := index(key, i)
		col, ok := d.columnName(item, k)
		if !ok {
			continue
		}
		if first, dup := seen[col]; dup {
			d.errorf(d.resolve(item), k, "column %s is listed twice (first at line %d); keep one", col, first)
			continue
		}
		seen[col] = d.resolve(item).Line
		p.Fields = append(p.Fields, Field{Key: col, Column: col, Line: item.Line})
	}
	return p
}

// projectionMap decodes {key: column, key: {const: v}, key: {nested}}.
func (d *decoder) projectionMap(n *yaml.Node, key string, depth int) *Projection {
	p := &Projection{}
	errs := len(d.errs)
	d.pairs(n, key, func(k, v *yaml.Node) {
		fkey := join(key, k.Value)
		if strings.TrimSpace(k.Value) == "" {
			d.errorf(k, fkey, "field name is empty; write a name")
			return
		}
		if f, ok := d.projectionField(k, v, fkey, depth); ok {
			p.Fields = append(p.Fields, f)
		}
	})
	if len(p.Fields) == 0 && len(d.errs) == errs {
		d.errorf(n, key, "fields is empty; name at least one column, or remove fields to send every column")
		return nil
	}
	return p
}

// projectionField decodes one output key of a mapping projection.
func (d *decoder) projectionField(k, v *yaml.Node, key string, depth int) (Field, bool) {
	f := Field{Key: k.Value, Line: k.Line}
	rv := d.resolve(v)
	switch {
	case rv == nil:
		return f, false
	case isNull(rv):
		f.Column = k.Value // {id: } or {id: ~} keeps the column under its name
		return f, true
	case rv.Kind == yaml.ScalarNode:
		col, ok := d.columnName(rv, key)
		f.Column = col
		return f, ok
	case rv.Kind == yaml.SequenceNode:
		d.errorf(rv, key, "want a column name, {const: VALUE} or a nested mapping, got a list")
		return f, false
	case isConst(rv):
		if len(rv.Content) != 2 {
			d.errorf(rv, key, "a constant is written {const: VALUE} with no other keys; move the other keys to their own field")
			return f, false
		}
		c, ok := d.value(rv.Content[1], join(key, "const"), depth+1)
		f.Const, f.HasConst = c, ok
		return f, ok
	}
	f.Nested = d.projectionAt(rv, key, depth+1)
	return f, f.Nested != nil
}

// isConst reports whether the mapping n has a const key.
func isConst(n *yaml.Node) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Value == "const" {
			return true
		}
	}
	return false
}

// columnName decodes a non-empty column name.
func (d *decoder) columnName(n *yaml.Node, key string) (string, bool) {
	var s string
	if !d.str(n, key, &s) {
		if rn := d.resolve(n); rn != nil && isNull(rn) {
			d.errorf(rn, key, "column name is empty; write a column name")
		}
		return "", false
	}
	if strings.TrimSpace(s) == "" {
		d.errorf(d.resolve(n), key, "column name is empty; write a column name")
		return "", false
	}
	return s, true
}
