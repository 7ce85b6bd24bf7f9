package config

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// tables decodes the tables: mapping of schema-qualified names to
// projections.
func (d *decoder) tables(n *yaml.Node, path string) []Table {
	var out []Table
	d.pairs(n, path, func(k, v *yaml.Node) {
		key := join(path, k.Value)
		d.tableName(k, key, k.Value)
		t := Table{Name: k.Value, Line: k.Line}
		d.fields(v, key, handlers{
			"fields": func(v *yaml.Node, k string) { t.Fields = d.projection(v, k) },
		})
		out = append(out, t)
	})
	return out
}

// tableName checks that name is schema-qualified, recording the problem at
// n otherwise.
func (d *decoder) tableName(n *yaml.Node, key, name string) bool {
	if err := checkTableName(name); err != "" {
		d.errorf(n, key, "%s", err)
		return false
	}
	return true
}

// checkTableName explains what is wrong with a table name, or returns "".
func checkTableName(name string) string {
	schema, table, ok := strings.Cut(name, ".")
	switch {
	case strings.TrimSpace(name) == "":
		return "table name is empty; write a schema-qualified name like public.users"
	case !ok:
		return "table name " + quote(name) + " is not schema-qualified; write public." + name
	case schema == "" || table == "" || strings.Contains(table, ".") || strings.TrimSpace(name) != name:
		return quote(name) + " is not a table name; write schema.table, e.g. public.users"
	}
	return ""
}

// quote writes s in double quotes, as %q would.
func quote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
