package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads and validates the configuration file at path, expanding
// environment references from the process environment. A file that cannot
// be read gives a plain error; a file that is refused gives Errors, with
// every problem found.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse validates the YAML configuration data, naming file in its errors.
// env looks up environment variables for ${VAR} references (os.LookupEnv in
// production; nil means an empty environment). When the file is refused the
// error is Errors, listing every problem sorted by line.
func Parse(file string, data []byte, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	d := &decoder{file: file, env: env}
	root, err := parseYAML(data)
	if err != nil {
		d.errs = append(d.errs, yamlError(file, data, err))
		return nil, d.errs
	}
	c := &Config{File: file}
	d.config(root, c)
	if !d.tooBig {
		d.validate(c)
	}
	if len(d.errs) > 0 {
		d.errs.sort()
		return nil, d.errs
	}
	return c, nil
}

// parseYAML parses exactly one YAML document. A panic inside the YAML
// library is turned into an error: a config file must never crash walhook.
func parseYAML(data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("yaml: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // empty file
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		return nil, &multiDocError{line: extra.Line}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

type multiDocError struct{ line int }

func (e *multiDocError) Error() string {
	return "yaml: line " + strconv.Itoa(e.line) + ": a second YAML document starts here; walhook reads one document, remove the --- separator"
}

var (
	yamlLine      = regexp.MustCompile(`^yaml: line (\d+): `)
	unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// yamlError turns a YAML syntax error into an Error with its line. The YAML
// library reports parser errors ("did not find expected …") at the 0-based
// line of the enclosing construct and leaves out "line 1"; this corrects
// both so the line points at, or just before, the mistake.
func yamlError(file string, data []byte, err error) *Error {
	msg := err.Error()
	e := &Error{File: file}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
		if !strings.HasPrefix(msg, "unknown anchor") {
			e.Line = 1 // the library omits line 1
		}
	}
	if strings.HasPrefix(msg, "did not find expected") && e.Line > 0 {
		e.Line++
	}
	if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		e.Line = lineOf(data, "*"+m[1])
		msg = "alias *" + m[1] + " refers to no anchor; define &" + m[1] + " before using it"
	}
	if tabIndented(data, e.Line) {
		msg += "; indent with spaces, not tabs"
	}
	e.Msg = "malformed YAML: " + msg
	return e
}

// tabIndented reports whether the 1-based line of data is indented with a
// tab.
func tabIndented(data []byte, line int) bool {
	if line < 1 {
		return false
	}
	lines := bytes.SplitN(data, []byte("\n"), line+1)
	if len(lines) < line {
		return false
	}
	l := lines[line-1]
	return len(l) > len(bytes.TrimLeft(l, " \t")) && bytes.IndexByte(l[:len(l)-len(bytes.TrimLeft(l, " \t"))], '\t') >= 0
}

// lineOf returns the 1-based line of the first occurrence of s in data, or
// 0.
func lineOf(data []byte, s string) int {
	i := bytes.Index(data, []byte(s))
	if i < 0 {
		return 0
	}
	return bytes.Count(data[:i], []byte("\n")) + 1
}
