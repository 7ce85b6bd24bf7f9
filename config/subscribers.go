package config

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// unset marks a subscriber setting the file leaves to defaults:; validate
// fills it in once the whole file is read (defaults: may come later).
const unset = -1

// subscribers decodes the subscribers: list.
func (d *decoder) subscribers(n *yaml.Node, path string, c *Config) []Subscriber {
	items, ok := d.list(n, path)
	if !ok {
		return nil
	}
	out := make([]Subscriber, 0, len(items))
	for i, item := range items {
		if s, ok := d.subscriber(item, index(path, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

// subscriber decodes one subscriber; settings it leaves out are unset.
func (d *decoder) subscriber(n *yaml.Node, key string) (Subscriber, bool) {
	rn := d.resolve(n)
	if rn == nil {
		return Subscriber{}, false
	}
	s := Subscriber{
		Line: rn.Line, MaxRetries: unset, RetryDelay: unset, Timeout: unset,
		AutoDisableAfterFailures: unset, BatchSize: 1, IsActive: true,
	}
	present := d.fields(rn, key, handlers{
		"name":                        func(v *yaml.Node, k string) { d.name(v, k, &s.Name) },
		"description":                 func(v *yaml.Node, k string) { d.str(v, k, &s.Description) },
		"table":                       func(v *yaml.Node, k string) { d.table(v, k, &s.Table) },
		"target_url":                  func(v *yaml.Node, k string) { d.targetURL(v, k, &s.TargetURL) },
		"secret":                      func(v *yaml.Node, k string) { s.Secrets = d.secrets(v, k, false) },
		"secrets":                     func(v *yaml.Node, k string) { s.Secrets = d.secrets(v, k, true) },
		"headers":                     func(v *yaml.Node, k string) { s.Headers = d.headers(v, k) },
		"fields":                      func(v *yaml.Node, k string) { s.Fields = d.projection(v, k) },
		"max_retries":                 func(v *yaml.Node, k string) { d.integer(v, k, 0, &s.MaxRetries) },
		"retry_delay":                 func(v *yaml.Node, k string) { d.duration(v, k, false, &s.RetryDelay) },
		"timeout":                     func(v *yaml.Node, k string) { d.duration(v, k, true, &s.Timeout) },
		"auto_disable_after_failures": func(v *yaml.Node, k string) { d.integer(v, k, 0, &s.AutoDisableAfterFailures) },
		"batch_size":                  func(v *yaml.Node, k string) { d.integer(v, k, 1, &s.BatchSize) },
		"unordered":                   func(v *yaml.Node, k string) { d.boolean(v, k, &s.Unordered) },
		"is_active":                   func(v *yaml.Node, k string) { d.boolean(v, k, &s.IsActive) },
		"subscriptions":               func(v *yaml.Node, k string) { s.Subscriptions = d.subscriptions(v, k) },
	})
	if present == nil {
		return s, false
	}
	d.require(rn, key, present, "name", "give the subscriber a unique name")
	d.require(rn, key, present, "table", "write the schema-qualified table, e.g. table: public.users")
	d.require(rn, key, present, "target_url", "write where to send the webhooks, e.g. target_url: https://api.example.com/webhooks")
	if present["secret"] != nil && present["secrets"] != nil {
		d.errorf(present["secrets"], join(key, "secrets"), "write either secret (one key) or secrets (a list, first signs), not both")
	}
	d.endpoints(&s, key)
	return s, true
}

// name decodes a non-empty name.
func (d *decoder) name(n *yaml.Node, key string, dst *string) {
	var s string
	d.str(n, key, &s)
	if strings.TrimSpace(s) == "" && !d.hasErr(key) {
		d.errorf(d.resolve(n), key, "is empty; give the subscriber a unique name")
		return
	}
	*dst = s
}

// targetURL decodes an absolute http(s) URL.
func (d *decoder) targetURL(n *yaml.Node, key string, dst *string) {
	var s string
	if !d.str(n, key, &s) {
		if rn := d.resolve(n); rn != nil && isNull(rn) {
			d.errorf(rn, key, "is empty; write where to send the webhooks, e.g. https://api.example.com/webhooks")
		}
		return
	}
	if err := checkHTTPURL(s); err != "" {
		d.errorf(d.resolve(n), key, "%s", err)
		return
	}
	*dst = s
}

// secrets decodes secret (one) or secrets (a list).
func (d *decoder) secrets(n *yaml.Node, key string, many bool) []string {
	var list []string
	if many {
		if !d.strList(n, key, &list) {
			return nil
		}
	} else {
		var s string
		if !d.str(n, key, &s) || s == "" {
			return nil // no secret: requests go unsigned
		}
		list = []string{s}
	}
	rn := d.resolve(n)
	for i, s := range list {
		s = strings.TrimSpace(s) // a secret read from a file often ends in a newline
		list[i] = s
		if err := CheckSecret(s); err != nil {
			at, k := rn, key
			if many {
				at, k = rn.Content[min(i, len(rn.Content)-1)], index(key, i)
			}
			d.errorf(at, k, "%v", err)
		}
	}
	return list
}

// reservedHeaders are set by walhook itself and may not be configured.
var reservedHeaders = []string{
	"webhook-id", "webhook-timestamp", "webhook-signature", "content-type",
	"content-length", "host", "transfer-encoding", "connection",
}

// headers decodes the subscriber's own request headers.
func (d *decoder) headers(n *yaml.Node, key string) map[string]string {
	var h map[string]string
	if !d.strMap(n, key, &h) {
		return nil
	}
	rn := d.resolve(n)
	seen := make(map[string]string, len(h))
	for i := 0; rn != nil && i+1 < len(rn.Content); i += 2 {
		k := rn.Content[i]
		lower := strings.ToLower(k.Value)
		first, dup := seen[lower]
		seen[lower] = k.Value
		switch {
		case dup && first != k.Value:
			d.errorf(k, join(key, k.Value), "header %s is also set as %s (header names ignore case); keep one", k.Value, first)
			delete(h, k.Value)
		case !validHeaderName(k.Value):
			d.errorf(k, join(key, k.Value), "%q is not a valid header name; write letters, digits and - like X-Api-Key", k.Value)
			delete(h, k.Value)
		case contains(reservedHeaders, lower):
			d.errorf(k, join(key, k.Value), "header %s is set by walhook; remove it", k.Value)
			delete(h, k.Value)
		case strings.ContainsAny(h[k.Value], "\r\n\x00"):
			d.errorf(rn.Content[i+1], join(key, k.Value), "header value contains a line break or NUL; write it on one line")
			delete(h, k.Value)
		}
	}
	return h
}

// validHeaderName reports whether s is an HTTP token (RFC 9110).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// subscriptions decodes a subscriber's subscriptions: list.
func (d *decoder) subscriptions(n *yaml.Node, path string) []Subscription {
	items, ok := d.list(n, path)
	if !ok {
		return nil
	}
	out := make([]Subscription, 0, len(items))
	for i, item := range items {
		key := index(path, i)
		rn := d.resolve(item)
		if rn == nil {
			continue
		}
		if rn.Kind == yaml.ScalarNode && !isNull(rn) {
			d.errorf(rn, key, "want a mapping, got %s; write - event: %s", describe(rn), rn.Value)
			continue
		}
		s := Subscription{Line: rn.Line, IsActive: true}
		present := d.fields(rn, key, handlers{
			"event":           func(v *yaml.Node, k string) { d.str(v, k, &s.Event) },
			"custom_endpoint": func(v *yaml.Node, k string) { d.str(v, k, &s.CustomEndpoint) },
			"is_active":       func(v *yaml.Node, k string) { d.boolean(v, k, &s.IsActive) },
		})
		if present == nil {
			continue
		}
		d.require(rn, key, present, "event", "write the event, e.g. event: created")
		out = append(out, s)
	}
	return out
}

// endpoints resolves each subscription's URL against the target URL.
func (d *decoder) endpoints(s *Subscriber, key string) {
	for i := range s.Subscriptions {
		sub := &s.Subscriptions[i]
		if s.TargetURL == "" {
			continue
		}
		u, err := JoinEndpoint(s.TargetURL, sub.CustomEndpoint)
		if err != nil {
			k := index(join(key, "subscriptions"), i) + ".custom_endpoint"
			d.errorf(d.at(k), k, "%v", err)
			continue
		}
		sub.URL = u
	}
}
