package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/walhook/walhook/"

// allowed lists, for each walhook package, the walhook packages its
// non-test code may import (STYLE.md, "Layout").
var allowed = map[string][]string{
	"config":             {},
	"cdc":                {},
	"deliver":            {},
	"router":             {"cdc", "deliver", "config"},
	"store":              {"cdc", "router", "deliver", "config"},
	"admin":              {"store", "router", "deliver", "config"},
	"cmd/walhook":        {"*"},
	"bench":              {"*"},
	"bench/baseline":     {"internal/pgcluster"},
	"internal/pgcluster": {},
	"internal/pgtest":    {"internal/pgcluster"},
	"internal/archtest":  {},
}

// testOnly are packages any test may import.
var testOnly = map[string]bool{"internal/pgtest": true, "internal/pgcluster": true}

func TestImportRules(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	imports := collectImports(t, root)
	if len(imports) == 0 {
		t.Fatal("found no packages: is the test running in the repository?")
	}
	for pkg, deps := range imports {
		rules, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s is not in the import rules: add it to allowed in %s with the edges STYLE.md permits", pkg, "internal/archtest/imports_test.go")
			continue
		}
		for dep, file := range deps {
			if !permitted(rules, dep, strings.HasSuffix(file, "_test.go")) {
				t.Errorf("%s imports %s (%s): not allowed by STYLE.md; allowed: %v", pkg, dep, file, rules)
			}
		}
	}
}

func permitted(rules []string, dep string, inTest bool) bool {
	if inTest && testOnly[dep] {
		return true
	}
	for _, r := range rules {
		if r == "*" || r == dep {
			return true
		}
	}
	return false
}

// collectImports maps each package directory (relative to root) to the
// walhook packages it imports and a file that does.
func collectImports(t *testing.T, root string) map[string]map[string]string {
	out := map[string]map[string]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if !strings.HasPrefix(p, module) {
				continue
			}
			dep := strings.TrimPrefix(p, module)
			if dep == rel {
				continue // external test package of the same package
			}
			if out[rel] == nil {
				out[rel] = map[string]string{}
			}
			out[rel][dep] = filepath.Base(path)
		}
		if out[rel] == nil {
			out[rel] = map[string]string{}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
