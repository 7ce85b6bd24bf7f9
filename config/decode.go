package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the nodes one file may make the decoder visit, aliases
// counted each time they are followed, so that a small file cannot make
// parsing explode ("billion laughs").
const maxNodes = 200_000

// decoder walks a parsed YAML tree, expanding environment references on
// scalar values and collecting every problem instead of stopping at the
// first.
type decoder struct {
	file    string
	env     func(string) (string, bool)
	errs    Errors
	visited int
	tooBig  bool
	// keys holds the key node of every known key decoded, by dotted path,
	// so that checks spanning the file can point at a line.
	keys map[string]*yaml.Node
	// errKeys holds the keys problems were recorded for.
	errKeys map[string]bool
}

// at returns the node of the key at path, or of its nearest decoded
// parent, or nil.
func (d *decoder) at(path string) *yaml.Node {
	for path != "" {
		if n := d.keys[path]; n != nil {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return nil
}

// errorf records a problem at node n.
func (d *decoder) errorf(n *yaml.Node, key, format string, args ...any) {
	e := &Error{File: d.file, Key: key, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
	if d.errKeys == nil {
		d.errKeys = map[string]bool{}
	}
	d.errKeys[key] = true
}

// hasErr reports whether a problem was already recorded for key.
func (d *decoder) hasErr(key string) bool {
	return d.errKeys[key]
}

// resolve follows aliases and charges the node against the budget. It
// returns nil once the budget is spent.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
		d.visited++
	}
	d.visited++
	if d.visited > maxNodes {
		if !d.tooBig {
			d.tooBig = true
			d.errorf(n, "", "the file expands to more than %d YAML nodes (aliases counted each time they are used); write it without so many aliases", maxNodes)
		}
		return nil
	}
	return n
}

// isNull reports whether n is absent or an explicit null (`key:` or `~`).
func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Style == 0)
}

// describe names what n is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// pairs calls fn for each key/value of the mapping n in file order. It
// refuses non-string and duplicate keys and applies YAML merge keys
// (<<: *anchor), whose entries explicit keys override. It reports false when
// n is not a mapping (after recording the problem); null counts as an empty
// mapping.
func (d *decoder) pairs(n *yaml.Node, path string, fn func(k, v *yaml.Node)) bool {
	if n == nil {
		return true
	}
	if n = d.resolve(n); n == nil {
		return false
	}
	if isNull(n) {
		return true
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping (key: value lines), got %s", describe(n))
		return false
	}
	explicit := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if isMergeKey(k) {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "a key must be a plain name, got %s", describe(k))
			continue
		}
		if first, dup := explicit[k.Value]; dup {
			d.errorf(k, join(path, k.Value), "key appears twice (first at line %d); keep one", first.Line)
			continue
		}
		explicit[k.Value] = k
	}
	d.merged(n, path, explicit, fn)
	seen := make(map[string]bool, len(explicit))
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if isMergeKey(k) || k.Kind != yaml.ScalarNode || seen[k.Value] {
			continue
		}
		seen[k.Value] = true
		fn(k, n.Content[i+1])
	}
	return true
}

// merged calls fn for the entries that merge keys in n bring in and that no
// explicit key overrides.
func (d *decoder) merged(n *yaml.Node, path string, explicit map[string]*yaml.Node, fn func(k, v *yaml.Node)) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !isMergeKey(n.Content[i]) {
			continue
		}
		v := d.resolve(n.Content[i+1])
		if v == nil {
			return
		}
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, src := range sources {
			d.pairs(src, path, func(k, v *yaml.Node) {
				if _, ok := explicit[k.Value]; ok {
					return
				}
				explicit[k.Value] = k
				fn(k, v)
			})
		}
	}
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

// fields decodes the mapping n by calling the handler registered for each
// key and refusing unknown keys with a suggestion. It returns the keys
// present (mapped to their key nodes) or nil when n is not a mapping.
func (d *decoder) fields(n *yaml.Node, path string, handlers map[string]func(v *yaml.Node, key string)) map[string]*yaml.Node {
	present := make(map[string]*yaml.Node, len(handlers))
	ok := d.pairs(n, path, func(k, v *yaml.Node) {
		key := join(path, k.Value)
		h, known := handlers[k.Value]
		if !known {
			d.errorf(k, key, "%s", unknownKey(k.Value, handlers))
			return
		}
		present[k.Value] = k
		if d.keys == nil {
			d.keys = map[string]*yaml.Node{}
		}
		d.keys[key] = k
		h(v, key)
	})
	if !ok {
		return nil
	}
	return present
}

// unknownKey explains an unknown key, suggesting the closest known one.
func unknownKey(name string, handlers map[string]func(*yaml.Node, string)) string {
	known := make([]string, 0, len(handlers))
	for k := range handlers {
		known = append(known, k)
	}
	sort.Strings(known)
	if s := suggest(name, known); s != "" {
		return "unknown key; did you mean " + s + "?"
	}
	return "unknown key; valid keys here are " + strings.Join(known, ", ")
}

// join appends key to a dotted path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends a list index to a path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
