package config

import (
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// scalar returns the expanded text of the scalar n. ok is false when n is
// null (nothing recorded) or not a scalar or its expansion fails (problem
// recorded).
func (d *decoder) scalar(n *yaml.Node, key, want string) (string, bool) {
	if n = d.resolve(n); n == nil || isNull(n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, key, "want %s, got %s", want, describe(n))
		return "", false
	}
	s, err := expand(n.Value, d.env)
	if err != nil {
		d.errorf(n, key, "%v", err)
		return "", false
	}
	return s, true
}

// str decodes a string. Null gives "" with ok false.
func (d *decoder) str(n *yaml.Node, key string, dst *string) bool {
	s, ok := d.scalar(n, key, "a string")
	if ok {
		*dst = s
	}
	return ok
}

// integer decodes a whole number that must be at least lo.
func (d *decoder) integer(n *yaml.Node, key string, lo int, dst *int) bool {
	s, ok := d.scalar(n, key, "a whole number")
	if !ok {
		return false
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		d.errorf(d.resolve(n), key, "want a whole number, got %q", s)
		return false
	}
	if v < lo {
		d.errorf(d.resolve(n), key, "%d is too small; write a number of at least %d", v, lo)
		return false
	}
	*dst = v
	return true
}

// boolean decodes true or false (also yes/no, on/off).
func (d *decoder) boolean(n *yaml.Node, key string, dst *bool) bool {
	s, ok := d.scalar(n, key, "true or false")
	if !ok {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1":
		*dst = true
	case "false", "no", "off", "0", "":
		*dst = false
	default:
		d.errorf(d.resolve(n), key, "want true or false, got %q", s)
		return false
	}
	return true
}

// duration decodes a Go duration ("30s", "2m", "1h30m") or a whole number
// of seconds, as the reference package's settings are written. It must not
// be negative and, when positive is set, not zero.
func (d *decoder) duration(n *yaml.Node, key string, positive bool, dst *time.Duration) bool {
	s, ok := d.scalar(n, key, "a duration")
	if !ok {
		return false
	}
	s = strings.TrimSpace(s)
	v, err := time.ParseDuration(s)
	if secs, ierr := strconv.ParseInt(s, 10, 32); ierr == nil {
		v, err = time.Duration(secs)*time.Second, nil
	}
	switch {
	case err != nil:
		d.errorf(d.resolve(n), key, "%q is not a duration; write a duration like 30s or 2m", s)
		return false
	case v < 0:
		d.errorf(d.resolve(n), key, "%s is negative; write a duration like 30s or 2m", s)
		return false
	case v == 0 && positive:
		d.errorf(d.resolve(n), key, "must be more than zero; write a duration like 30s or 2m")
		return false
	}
	*dst = v
	return true
}

// strList decodes a list of non-empty strings (a single string is not
// accepted: write [x]).
func (d *decoder) strList(n *yaml.Node, key string, dst *[]string) bool {
	if n = d.resolve(n); n == nil || isNull(n) {
		return false
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, key, "want a list like [a, b], got %s", describe(n))
		return false
	}
	out := make([]string, 0, len(n.Content))
	for i, item := range n.Content {
		var s string
		if !d.str(item, index(key, i), &s) {
			if isNull(d.resolve(item)) {
				d.errorf(item, index(key, i), "is empty; write a name")
			}
			continue
		}
		if strings.TrimSpace(s) == "" {
			d.errorf(item, index(key, i), "is empty; write a name")
			continue
		}
		out = append(out, s)
	}
	*dst = out
	return true
}

// strMap decodes a mapping of strings to strings.
func (d *decoder) strMap(n *yaml.Node, key string, dst *map[string]string) bool {
	out := map[string]string{}
	ok := d.pairs(n, key, func(k, v *yaml.Node) {
		var s string
		d.str(v, join(key, k.Value), &s)
		out[k.Value] = s
	})
	if ok {
		*dst = out
	}
	return ok
}
