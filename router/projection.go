package router

import (
	"fmt"
	"sync/atomic"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/config"
)

// Projection shapes a row into a payload's data: the serializer
// equivalent. It keeps some columns, renames them, nests them under objects
// and adds constants, in the order the configuration declares them.
//
// A Projection is compiled once and is safe for concurrent use. Column
// positions are resolved against a cdc.Relation on first use and cached
// until a change arrives with another Relation (after ALTER TABLE).
type Projection struct {
	root []node
	// columns are the distinct columns read; a node's slot indexes it.
	columns []string
	// leaves are the column-valued nodes in output order.
	leaves []leaf
	bound  atomic.Pointer[binding]
}

// node is one output key.
type node struct {
	key    []byte // `"key":`
	slot   int    // column slot, -1 for a constant or nested object
	leaf   int    // index in leaves when slot >= 0
	konst  []byte // the constant, encoded
	nested []node
}

// leaf is a column-valued output key with its dotted path from the root
// ("contact.email"): the name used in "changed" and "unchanged".
type leaf struct {
	slot     int
	pathJSON []byte // the path as a JSON string
}

// binding is a Projection's column positions in one Relation.
type binding struct {
	rel *cdc.Relation
	pos []int // position in rel.Columns per slot, -1 when missing
	// missing names the first projected column the relation lacks.
	missing string
}

// Compile turns a configured projection into a Projection. A nil p gives a
// nil *Projection, which stands for "every column under its own name". It
// returns an error naming the field when a field is empty, a key repeats
// at one level, or a constant cannot be encoded as JSON.
func Compile(p *config.Projection) (*Projection, error) {
	if p == nil {
		return nil, nil
	}
	c := compiler{slots: map[string]int{}}
	root, err := c.nodes(p, "")
	if err != nil {
		return nil, err
	}
	return &Projection{root: root, columns: c.columns, leaves: c.leaves}, nil
}

type compiler struct {
	slots   map[string]int
	columns []string
	leaves  []leaf
}

func (c *compiler) nodes(p *config.Projection, prefix string) ([]node, error) {
	seen := make(map[string]bool, len(p.Fields))
	out := make([]node, 0, len(p.Fields))
	for _, f := range p.Fields {
		if seen[f.Key] {
			return nil, fmt.Errorf("compile projection: key %q appears twice (line %d): give each output key one source", prefix+f.Key, f.Line)
		}
		seen[f.Key] = true
		n, err := c.node(f, prefix)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func (c *compiler) node(f config.Field, prefix string) (node, error) {
	n := node{key: append(appendString(nil, f.Key), ':'), slot: -1}
	switch {
	case f.Nested != nil:
		nested, err := c.nodes(f.Nested, prefix+f.Key+".")
		if err != nil {
			return n, err
		}
		n.nested = nested
	case f.HasConst:
		konst, err := appendValue(nil, f.Const)
		if err != nil {
			return n, fmt.Errorf("compile projection: constant for key %q (line %d): %w", prefix+f.Key, f.Line, err)
		}
		n.konst = konst
	case f.Column != "":
		n.slot = c.slot(f.Column)
		n.leaf = len(c.leaves)
		c.leaves = append(c.leaves, leaf{slot: n.slot, pathJSON: appendString(nil, prefix+f.Key)})
	default:
		return n, fmt.Errorf("compile projection: key %q (line %d) has no column, nested fields or const: name a column", prefix+f.Key, f.Line)
	}
	return n, nil
}

func (c *compiler) slot(column string) int {
	if s, ok := c.slots[column]; ok {
		return s
	}
	s := len(c.columns)
	c.slots[column] = s
	c.columns = append(c.columns, column)
	return s
}

// Columns returns the columns the projection reads, each once, in order of
// first use. The result must not be modified.
func (p *Projection) Columns() []string { return p.columns }

// identity returns the projection of every column of rel under its own
// name, already bound to rel.
func identity(rel *cdc.Relation) *Projection {
	p := &Projection{
		root:    make([]node, len(rel.Columns)),
		columns: make([]string, len(rel.Columns)),
		leaves:  make([]leaf, len(rel.Columns)),
	}
	pos := make([]int, len(rel.Columns))
	for i, col := range rel.Columns {
		quoted := appendString(nil, col.Name)
		p.root[i] = node{key: append(quoted, ':'), slot: i, leaf: i}
		p.columns[i] = col.Name
		p.leaves[i] = leaf{slot: i, pathJSON: quoted[:len(quoted):len(quoted)]}
		pos[i] = i
	}
	p.bound.Store(&binding{rel: rel, pos: pos})
	return p
}

// bind returns the projection's column positions in rel, resolving and
// caching them when rel is not the relation of the last call.
func (p *Projection) bind(rel *cdc.Relation) *binding {
	if b := p.bound.Load(); b != nil && b.rel == rel {
		return b
	}
	b := &binding{rel: rel, pos: make([]int, len(p.columns))}
	for i, col := range p.columns {
		b.pos[i] = rel.ColumnIndex(col)
		if b.pos[i] < 0 && b.missing == "" {
			b.missing = col
		}
	}
	p.bound.Store(b)
	return b
}

// view is a row as a projection reads it.
type view struct {
	row cdc.Row
	// fill supplies values for the row's unchanged TOAST entries: the old
	// row when the server sent it whole.
	fill cdc.Row
	// keyOnly says only the replica identity columns of row are known
	// (the old key of a delete): other columns are left out.
	keyOnly bool
}

// known reports whether column i of the view carries a value.
func (v *view) known(rel *cdc.Relation, i int) bool {
	return !v.keyOnly || rel.Columns[i].Key
}

// value returns column i, or cdc.Unchanged when the server did not send it
// and no fill knows it.
func (v *view) value(i int) any {
	x := v.row[i]
	if _, ok := x.(cdc.Unchanged); ok && v.fill != nil {
		return v.fill[i]
	}
	return x
}

// appendData appends the projected object. Leaves whose value is an
// unchanged TOAST value are left out and their indexes appended to
// *unchanged. b must have no missing column.
func (p *Projection) appendData(dst []byte, b *binding, v *view, unchanged *[]int) ([]byte, error) {
	dst, _, err := p.appendObject(dst, p.root, b, v, unchanged)
	return dst, err
}

// appendObject writes nodes as an object and reports how many keys it
// wrote. With a key-only view, nested objects left empty are dropped by
// the caller.
func (p *Projection) appendObject(dst []byte, nodes []node, b *binding, v *view, unchanged *[]int) ([]byte, int, error) {
	dst = append(dst, '{')
	wrote := 0
	for i := range nodes {
		n := &nodes[i]
		mark := len(dst)
		if wrote > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, n.key...)
		var ok bool
		var err error
		dst, ok, err = p.appendNode(dst, n, b, v, unchanged)
		if err != nil {
			return dst, wrote, err
		}
		if !ok {
			dst = dst[:mark]
			continue
		}
		wrote++
	}
	return append(dst, '}'), wrote, nil
}

// appendNode writes one node's value; ok is false when the node must be
// left out.
func (p *Projection) appendNode(dst []byte, n *node, b *binding, v *view, unchanged *[]int) ([]byte, bool, error) {
	switch {
	case n.konst != nil:
		return append(dst, n.konst...), true, nil
	case n.nested != nil:
		dst, wrote, err := p.appendObject(dst, n.nested, b, v, unchanged)
		return dst, wrote > 0 || !v.keyOnly, err
	}
	i := b.pos[n.slot]
	if !v.known(b.rel, i) {
		return dst, false, nil
	}
	x := v.value(i)
	if _, ok := x.(cdc.Unchanged); ok {
		if unchanged != nil {
			*unchanged = append(*unchanged, n.leaf)
		}
		return dst, false, nil
	}
	dst, err := appendValue(dst, x)
	if err != nil {
		return dst, false, fmt.Errorf("column %s: %w", b.rel.Columns[i].Name, err)
	}
	return dst, true, nil
}

// appendChanged appends the JSON array of the paths of projected columns
// whose value differs between old and new. An unchanged TOAST value in new
// did not change.
func (p *Projection) appendChanged(dst []byte, b *binding, old, new cdc.Row) []byte {
	dst = append(dst, '[')
	first := true
	for _, l := range p.leaves {
		i := b.pos[l.slot]
		nv := new[i]
		if _, ok := nv.(cdc.Unchanged); ok {
			continue
		}
		if equalValue(old[i], nv) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, l.pathJSON...)
	}
	return append(dst, ']')
}

// appendPaths appends the JSON array of the given leaves' paths.
func (p *Projection) appendPaths(dst []byte, leaves []int) []byte {
	dst = append(dst, '[')
	for i, l := range leaves {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, p.leaves[l].pathJSON...)
	}
	return append(dst, ']')
}
