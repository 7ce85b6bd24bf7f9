package config

import (
	"go.yaml.in/yaml/v3"
)

// whereOps are the operators of a where: condition, as written in YAML.
var whereOps = []string{"eq", "ne", "changed_to", "changed_from", "was", "was_not", "is_null", "not_null"}

// where decodes an event's conditions:
//
//	where:
//	  status: paid                  # new value equals paid (short for {eq: paid})
//	  plan: {ne: free}              # new value differs from free
//	  state: {changed_to: shipped}  # was not shipped, is now
//	  kind: {changed_from: trial}   # was trial, is not any more
//	  tier: {was: gold}             # old value equals gold
//	  owner: {was_not: null}        # old value differs from null
//	  deleted_at: {is_null: true}   # new value is NULL
//	  email: {not_null: true}       # new value is not NULL
//
// A column may carry several operators; all conditions must hold.
func (d *decoder) where(n *yaml.Node, key string) []Condition {
	if rn := d.resolve(n); rn == nil || isNull(rn) {
		return nil
	}
	var out []Condition
	errs := len(d.errs)
	ok := d.pairs(n, key, func(k, v *yaml.Node) {
		ckey := join(key, k.Value)
		if k.Value == "" {
			d.errorf(k, ckey, "column name is empty; write a column name")
			return
		}
		rv := d.resolve(v)
		if rv == nil {
			return
		}
		switch rv.Kind {
		case yaml.MappingNode:
			out = d.whereOps(rv, ckey, k.Value, out)
		case yaml.SequenceNode:
			d.errorf(rv, ckey, "want a value like paid or {changed_to: paid}, got a list")
		default:
			if val, ok := d.value(rv, ckey, 0); ok {
				out = append(out, Condition{Column: k.Value, Op: "eq", Value: val})
			}
		}
	})
	if ok && len(out) == 0 && len(d.errs) == errs {
		d.errorf(d.resolve(n), key, "is empty; write conditions like {status: {changed_to: paid}}, or remove where")
	}
	return out
}

// whereOps decodes {op: value, …} for one column, appending to out.
func (d *decoder) whereOps(n *yaml.Node, key, column string, out []Condition) []Condition {
	before, errs := len(out), len(d.errs)
	d.pairs(n, key, func(k, v *yaml.Node) {
		okey := join(key, k.Value)
		if !contains(whereOps, k.Value) {
			d.errorf(k, okey, "unknown condition%s; write one of %s", didYouMean(k.Value, whereOps), listOr(whereOps))
			return
		}
		if c, ok := d.condition(v, okey, column, k.Value); ok {
			out = append(out, c)
		}
	})
	if len(out) == before && len(d.errs) == errs {
		d.errorf(n, key, "no condition; write one like {changed_to: paid}")
	}
	return out
}

// condition decodes the value of one operator.
func (d *decoder) condition(v *yaml.Node, key, column, op string) (Condition, bool) {
	c := Condition{Column: column, Op: op}
	switch op {
	case "is_null", "not_null":
		var b bool
		if rv := d.resolve(v); rv != nil && isNull(rv) {
			d.errorf(rv, key, "want true or false, got null")
			return c, false
		}
		if !d.boolean(v, key, &b) {
			return c, false
		}
		if !b {
			c.Op = map[string]string{"is_null": "not_null", "not_null": "is_null"}[op]
		}
		return c, true
	case "was", "was_not":
		c.Old = true
		c.Op = map[string]string{"was": "eq", "was_not": "ne"}[op]
	}
	rv := d.resolve(v)
	if rv == nil {
		return c, false
	}
	if rv.Kind != yaml.ScalarNode {
		d.errorf(rv, key, "want a single value like paid or 3, got %s", describe(rv))
		return c, false
	}
	val, ok := d.value(rv, key, 0)
	c.Value = val
	return c, ok
}
