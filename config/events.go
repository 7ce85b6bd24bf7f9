package config

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// BuiltinEvents are the events every table has: a subscription may name
// them without declaring them under events:.
var BuiltinEvents = []string{"created", "updated", "deleted", "truncated"}

// rowEvents are the values an event's on: may take.
var rowEvents = []string{"created", "updated", "deleted"}

// events decodes the events: list.
func (d *decoder) events(n *yaml.Node, path string) []Event {
	items, ok := d.list(n, path)
	if !ok {
		return nil
	}
	out := make([]Event, 0, len(items))
	for i, item := range items {
		if e, ok := d.event(item, index(path, i)); ok {
			out = append(out, e)
		}
	}
	return out
}

// list resolves n as a list; null is an empty list.
func (d *decoder) list(n *yaml.Node, key string) ([]*yaml.Node, bool) {
	if n = d.resolve(n); n == nil || isNull(n) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, key, "want a list (lines starting with -), got %s", describe(n))
		return nil, false
	}
	return n.Content, true
}

// event decodes one custom event and checks it on its own; checks across
// events are in validate.
func (d *decoder) event(n *yaml.Node, key string) (Event, bool) {
	rn := d.resolve(n)
	if rn == nil {
		return Event{}, false
	}
	e := Event{Line: rn.Line}
	present := d.fields(rn, key, handlers{
		"name":           func(v *yaml.Node, k string) { d.eventName(v, k, &e.Name) },
		"table":          func(v *yaml.Node, k string) { d.table(v, k, &e.Table) },
		"on":             func(v *yaml.Node, k string) { d.oneOf(v, k, rowEvents, &e.On) },
		"when_changed":   func(v *yaml.Node, k string) { d.strList(v, k, &e.WhenChanged) },
		"ignore_changed": func(v *yaml.Node, k string) { d.strList(v, k, &e.IgnoreChanged) },
		"where":          func(v *yaml.Node, k string) { e.Where = d.where(v, k) },
	})
	if present == nil {
		return e, false
	}
	d.require(rn, key, present, "name", "give the event a name, e.g. name: email_updated")
	d.require(rn, key, present, "table", "write the schema-qualified table, e.g. table: public.users")
	d.eventConditions(e, key, present)
	return e, true
}

// require records a problem when key name is missing from present.
func (d *decoder) require(n *yaml.Node, path string, present map[string]*yaml.Node, name, hint string) {
	if _, ok := present[name]; !ok {
		d.errorf(n, join(path, name), "missing; %s", hint)
	}
}

// eventName decodes a custom event's name.
func (d *decoder) eventName(n *yaml.Node, key string, dst *string) {
	var s string
	if !d.str(n, key, &s) {
		if rn := d.resolve(n); rn != nil && isNull(rn) {
			d.errorf(rn, key, "is empty; give the event a name, e.g. name: email_updated")
		}
		return
	}
	switch {
	case s == "" || strings.ContainsAny(s, " \t\r\n"):
		d.errorf(d.resolve(n), key, "%q is not an event name; write a name without spaces, e.g. email_updated", s)
	case contains(BuiltinEvents, s):
		d.errorf(d.resolve(n), key, "%s is a built-in event; choose another name for a custom event", s)
	default:
		*dst = s
	}
}

// table decodes a schema-qualified table name.
func (d *decoder) table(n *yaml.Node, key string, dst *string) {
	var s string
	if !d.str(n, key, &s) {
		if rn := d.resolve(n); rn != nil && isNull(rn) {
			d.errorf(rn, key, "is empty; write the schema-qualified table, e.g. public.users")
		}
		return
	}
	if d.tableName(d.resolve(n), key, s) {
		*dst = s
	}
}

// eventConditions checks that the event's conditions fit its on:.
func (d *decoder) eventConditions(e Event, key string, present map[string]*yaml.Node) {
	for _, name := range []string{"when_changed", "ignore_changed", "where"} {
		k := present[name]
		if k == nil {
			continue
		}
		switch {
		case e.On == "" && !d.hasErr(join(key, "on")):
			d.errorf(k, join(key, name), "%s needs on: created, updated or deleted; an event without on is only born from SQL, walhook send or the API", name)
		case e.On != "updated" && name != "where" && e.On != "":
			d.errorf(k, join(key, name), "%s needs on: updated (only an update changes columns)", name)
		}
	}
	if e.On == "" || e.On == "updated" {
		return
	}
	for _, c := range e.Where {
		switch {
		case c.Op == "changed_to" || c.Op == "changed_from":
			d.errorf(present["where"], join(key, "where."+c.Column), "%s needs on: updated (only an update has an old and a new value)", c.Op)
		case c.Old && e.On == "created":
			d.errorf(present["where"], join(key, "where."+c.Column), "%s needs on: updated or deleted (a created row has no old value)", map[string]string{"eq": "was", "ne": "was_not"}[c.Op])
		}
	}
}
