package config_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/walhook/walhook/config"
)

// stripLines zeroes the Line fields so that projections from YAML and JSON
// compare equal.
func stripLines(p *config.Projection) *config.Projection {
	if p == nil {
		return nil
	}
	out := &config.Projection{}
	for _, f := range p.Fields {
		f.Line = 0
		f.Nested = stripLines(f.Nested)
		out.Fields = append(out.Fields, f)
	}
	return out
}

func TestProjectionYAMLAndJSON(t *testing.T) {
	t.Parallel()
	nested := &config.Projection{Fields: []config.Field{
		{Key: "id", Column: "id"},
		{Key: "user_name", Column: "name"},
		{Key: "contact", Nested: &config.Projection{Fields: []config.Field{
			{Key: "email", Column: "email"},
			{Key: "phone", Column: "phone"},
		}}},
		{Key: "plan", Const: "pro", HasConst: true},
		{Key: "version", Const: 2, HasConst: true},
		{Key: "meta", Const: map[string]any{"a": []any{1, true, nil}}, HasConst: true},
	}}
	tests := []struct {
		name, yaml, json string
		want             *config.Projection
	}{
		{
			name: "list",
			yaml: "[id, name]",
			json: `["id","name"]`,
			want: &config.Projection{Fields: []config.Field{{Key: "id", Column: "id"}, {Key: "name", Column: "name"}}},
		},
		{
			name: "map of same names is written as a list",
			yaml: "{id: id, email: }",
			json: `["id","email"]`,
			want: &config.Projection{Fields: []config.Field{{Key: "id", Column: "id"}, {Key: "email", Column: "email"}}},
		},
		{
			name: "renames, nesting and constants",
			yaml: "{id: id, user_name: name, contact: {email: email, phone: phone}, plan: {const: pro}, version: {const: 2}, meta: {const: {a: [1, true, null]}}}",
			json: `{"id":"id","user_name":"name","contact":{"email":"email","phone":"phone"},"plan":{"const":"pro"},"version":{"const":2},"meta":{"const":{"a":[1,true,null]}}}`,
			want: nested,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustParse(t, "tables:\n  public.users:\n    fields: "+tt.yaml+"\n", baseEnv())
			got := stripLines(c.Tables[0].Fields)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("YAML projection =\n%+v\nwant\n%+v", got, tt.want)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.json {
				t.Errorf("MarshalJSON = %s, want %s", b, tt.json)
			}
			back, err := config.ParseProjectionJSON(b)
			if err != nil {
				t.Fatalf("ParseProjectionJSON(%s): %v", b, err)
			}
			if !reflect.DeepEqual(back, tt.want) {
				t.Errorf("JSON round trip =\n%+v\nwant\n%+v", back, tt.want)
			}
			var viaUnmarshal config.Projection
			if err := json.Unmarshal(b, &viaUnmarshal); err != nil || !reflect.DeepEqual(&viaUnmarshal, tt.want) {
				t.Errorf("json.Unmarshal = %+v, %v", viaUnmarshal, err)
			}
		})
	}
}

func TestParseProjectionJSONRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`{`, "not valid JSON"},
		{`"id"`, "fields must be an array of column names or an object"},
		{`[]`, "fields is empty"},
		{`["id", ""]`, `fields[1]: column name is empty`},
		{`["id", "id"]`, `fields[1]: column id is listed twice`},
		{`[1]`, "want an array of column names"},
		{`{}`, "fields is empty"},
		{`{"a": 1}`, `fields.a: want a column name, {"const": value} or a nested object, got 1`},
		{`{"a": ""}`, "fields.a: column name is empty"},
		{`{"": "x"}`, "field name is empty"},
		{`{"a": "x", "a": "y"}`, "key a appears twice"},
		{`{"a": {"const": 1, "b": "c"}}`, `fields.a: a constant is written {"const": value} with no other keys`},
		{`{"a": {}}`, "fields.a: fields is empty"},
		{`{"a": ["x"]}`, `fields.a: want a column name, {"const": value} or a nested object, got ["x"]`},
		{strings.Repeat(`{"a":`, 20) + `"x"` + strings.Repeat(`}`, 20), "nest deeper than 16 levels"},
	}
	for _, tt := range tests {
		_, err := config.ParseProjectionJSON([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseProjectionJSON(%s) = %v, want an error containing %q", tt.in, err, tt.want)
		}
	}
	if p, err := config.ParseProjectionJSON([]byte(" null ")); p != nil || err != nil {
		t.Errorf("null = %v, %v; want nil, nil", p, err)
	}
}

func TestProjectionMarshalNil(t *testing.T) {
	t.Parallel()
	var p *config.Projection
	b, err := json.Marshal(p)
	if err != nil || string(b) != "null" {
		t.Errorf("nil projection = %s, %v", b, err)
	}
}

func TestProjectionColumns(t *testing.T) {
	t.Parallel()
	c := mustParse(t, "tables:\n  public.t:\n    fields: {a: x, n: {b: y, m: {c: z}}, k: {const: 1}}\n", baseEnv())
	if got := c.Tables[0].Fields.Columns(); !reflect.DeepEqual(got, []string{"x", "y", "z"}) {
		t.Errorf("Columns = %v", got)
	}
}
