package config

import (
	"errors"
	"net/url"
	"strings"
)

// checkHTTPURL explains why s is not an absolute http(s) URL with a host,
// or returns "".
func checkHTTPURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return quote(redactURL(s)) + " is not an http(s) URL; write an absolute URL like https://api.example.com/webhooks"
	}
	return ""
}

// JoinEndpoint returns the URL a subscription posts to. An empty custom
// endpoint gives target; an absolute http(s) one replaces target; any
// other is a path appended to target's path, as the reference package
// does: target https://api.example.com/webhooks with custom /users/updated
// gives https://api.example.com/webhooks/users/updated. A query on the
// custom endpoint replaces target's query. The error says what to write
// when the result would not be http(s).
func JoinEndpoint(target, custom string) (string, error) {
	if msg := checkHTTPURL(target); msg != "" {
		return "", errors.New(msg)
	}
	if custom == "" {
		return target, nil
	}
	c, err := url.Parse(custom)
	if err != nil {
		return "", errors.New(quote(custom) + " is not a URL; write a path like /users/updated or an absolute https:// URL")
	}
	switch {
	case c.Scheme != "":
		if msg := checkHTTPURL(custom); msg != "" {
			return "", errors.New(msg)
		}
		return custom, nil
	case c.Host != "" || strings.HasPrefix(custom, "//"):
		return "", errors.New(quote(custom) + " names a host without a scheme; write an absolute URL like https://" + strings.TrimLeft(custom, "/"))
	}
	t, _ := url.Parse(target) // checked above
	t.Path = strings.TrimRight(t.Path, "/") + "/" + strings.TrimLeft(c.Path, "/")
	t.RawPath = ""
	if c.RawQuery != "" {
		t.RawQuery = c.RawQuery
	}
	t.Fragment, t.RawFragment = "", ""
	return t.String(), nil
}
