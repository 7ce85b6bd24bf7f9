package config

import (
	"fmt"
	"strings"
)

// expand replaces ${VAR} and ${VAR:-default} in s with values from lookup
// and $$ with a literal $. As in the shell, the default is used when VAR is
// unset or empty. A $ followed by anything else is kept as is. The
// text that comes from lookup or from a default is copied verbatim and never
// expanded again. The error says what to write instead.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	if strings.IndexByte(s, '$') < 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			n, err := expandRef(&b, s[i:], lookup)
			if err != nil {
				return "", err
			}
			i += n - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// expandRef expands the reference at the start of s ("${…}") into b and
// returns its length.
func expandRef(b *strings.Builder, s string, lookup func(string) (string, bool)) (int, error) {
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return 0, fmt.Errorf("unterminated %q; write ${VAR}, ${VAR:-default}, or $$ for a literal $", s)
	}
	body := s[2:end]
	name, def, hasDef := strings.Cut(body, ":-")
	if !validEnvName(name) {
		return 0, fmt.Errorf("%q is not a valid environment variable reference; write ${VAR} or ${VAR:-default} with VAR made of letters, digits and _, or $$ for a literal $", s[:end+1])
	}
	v, ok := lookup(name)
	switch {
	case ok && (v != "" || !hasDef):
		b.WriteString(v)
	case hasDef:
		b.WriteString(def)
	default:
		return 0, fmt.Errorf("environment variable %s is not set; set it, or write ${%s:-default}", name, name)
	}
	return end + 1, nil
}

// validEnvName reports whether name is a POSIX-style variable name.
func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
