package config_test

import (
	"errors"
	"os"
	"testing"

	"github.com/walhook/walhook/config"
)

// FuzzParse checks that no input makes Parse panic, and that a refused file
// always comes back as Errors with at least one problem.
func FuzzParse(f *testing.F) {
	for _, path := range []string{"../testdata/walhook.example.yaml", fixtureDir + "/good/design.yaml", fixtureDir + "/bad/several.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"source: {dsn: ${X:-y}}\n",
		"a: &a [*a]\n",
		"a: &x {b: 1}\nc: {<<: *x}\n",
		"tables: {public.t: {fields: {a: {b: {c: {const: [1, {d: e}]}}}}}}\n",
		"events: [{name: e, table: public.t, on: updated, where: {s: {changed_to: 1}}}]\n",
		"subscribers: [{name: s, table: public.t, target_url: 'http://x', subscriptions: [{event: creatd, custom_endpoint: '//x'}]}]\n",
		"disabled: !!binary aGVsbG8=\n",
		"? [a]\n: b\n",
	} {
		f.Add([]byte(s))
	}
	env := envOf(map[string]string{"X": "$${Y}", "DATABASE_URL": "postgres://db/app", "CRM_WEBHOOK_SECRET": testSecret})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse("fuzz.yaml", data, env)
		if err == nil {
			if c == nil {
				t.Fatal("nil config without error")
			}
			_ = c.Redacted()
			_ = c.ColumnsByTable()
			for _, tb := range c.Tables {
				b, err := tb.Fields.MarshalJSON()
				if err != nil {
					t.Fatalf("MarshalJSON: %v", err)
				}
				if _, err := config.ParseProjectionJSON(b); err != nil {
					t.Fatalf("projection %s does not read back: %v", b, err)
				}
			}
			return
		}
		var errs config.Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error %T %v is not a non-empty Errors", err, err)
		}
	})
}

func BenchmarkParseExample(b *testing.B) {
	data, err := os.ReadFile("../testdata/walhook.example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	env := envOf(map[string]string{
		"DATABASE_URL": "postgres://db/app", "CRM_WEBHOOK_SECRET": testSecret, "CRM_API_KEY": "k",
		"BILLING_SECRET": testSecret, "BILLING_SECRET_OLD": testSecret,
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := config.Parse("walhook.yaml", data, env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProjectionJSON(b *testing.B) {
	in := []byte(`{"id":"id","user_name":"name","contact":{"email":"email"},"plan":{"const":"pro"}}`)
	b.ReportAllocs()
	for b.Loop() {
		p, err := config.ParseProjectionJSON(in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}
