package config

import (
	"maps"
	"net/url"
	"regexp"
	"strings"
)

// Redacted returns a copy of c that is safe to print or log: DSN
// passwords, the admin token and header values become ***, secrets keep
// only their last four characters (whsec_…abcd), and credentials in target
// URLs (user:password@, token-like query values) become ***. c is not
// modified.
func (c *Config) Redacted() *Config {
	r := *c
	r.Source.DSN = RedactDSN(c.Source.DSN)
	r.State.DSN = RedactDSN(c.State.DSN)
	if r.Admin.Token != "" {
		r.Admin.Token = "***"
	}
	r.Log.Components = maps.Clone(c.Log.Components)
	r.Delivery.AllowNetworks = append([]string(nil), c.Delivery.AllowNetworks...)
	r.Tables = append([]Table(nil), c.Tables...)
	r.Events = append([]Event(nil), c.Events...)
	r.Subscribers = make([]Subscriber, len(c.Subscribers))
	for i, s := range c.Subscribers {
		r.Subscribers[i] = s.redacted()
	}
	return &r
}

// redacted returns a copy of s safe to show.
func (s Subscriber) redacted() Subscriber {
	s.TargetURL = redactURL(s.TargetURL)
	secrets := make([]string, len(s.Secrets))
	for i, sec := range s.Secrets {
		secrets[i] = RedactSecret(sec)
	}
	s.Secrets = secrets
	if s.Headers != nil {
		h := make(map[string]string, len(s.Headers))
		for k := range s.Headers {
			h[k] = "***"
		}
		s.Headers = h
	}
	subs := make([]Subscription, len(s.Subscriptions))
	for i, sub := range s.Subscriptions {
		sub.URL = redactURL(sub.URL)
		sub.CustomEndpoint = redactURL(sub.CustomEndpoint)
		subs[i] = sub
	}
	s.Subscriptions = subs
	return s
}

// RedactSecret shows a secret as whsec_…abcd (its last four characters),
// or *** when it is too short to show any of it safely.
func RedactSecret(s string) string {
	if len(s) < len(SecretPrefix)+16 {
		return "***"
	}
	return SecretPrefix + "…" + s[len(s)-4:]
}

var (
	kvPassword   = regexp.MustCompile(`(?i)(\b(?:password|sslpassword)\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]*)`)
	userinfoPass = regexp.MustCompile(`(://[^/@:]*:)[^/@]*@`)
	secretParam  = regexp.MustCompile(`(?i)pass|secret|token|key|sig|auth`)
)

// RedactDSN hides the password of a PostgreSQL connection string, in URL
// form (postgres://user:pass@host/db?password=…) or keyword/value form
// (host=db password=…).
func RedactDSN(dsn string) string {
	if !strings.Contains(dsn, "://") {
		return kvPassword.ReplaceAllString(dsn, "${1}***")
	}
	return redactURL(dsn)
}

// redactURL hides the password in a URL's user info and the values of
// query parameters whose names look like credentials.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return userinfoPass.ReplaceAllString(s, "${1}***@")
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "***")
	}
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for k := range q {
			if secretParam.MatchString(k) {
				q[k] = []string{"***"}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}
