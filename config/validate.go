package config

import "fmt"

// validate applies the defaults that depend on other keys and runs the
// checks that span several parts of the file.
func (d *decoder) validate(c *Config) {
	d.sourceDSN(c)
	if c.State.DSN == "" {
		c.State.DSN = c.Source.DSN
	}
	d.uniqueEvents(c.Events)
	names := make(map[string]int, len(c.Subscribers))
	for i := range c.Subscribers {
		s := &c.Subscribers[i]
		key := index("subscribers", i)
		if first, dup := names[s.Name]; dup && s.Name != "" {
			d.errorf(d.at(key+".name"), key+".name", "subscriber %q is already declared at line %d; subscriber names must be unique", s.Name, first)
		} else {
			names[s.Name] = s.Line
		}
		d.subscriberDefaults(s, c)
		if s.BatchSize > c.Delivery.MaxBatchSize {
			d.errorf(d.at(key+".batch_size"), key+".batch_size", "%d is above delivery.max_batch_size %d; lower it or raise delivery.max_batch_size", s.BatchSize, c.Delivery.MaxBatchSize)
		}
		d.subscribedEvents(s, key, c.Events)
	}
}

// sourceDSN falls back to DATABASE_URL when source.dsn is empty.
func (d *decoder) sourceDSN(c *Config) {
	if c.Source.DSN != "" || d.hasErr("source.dsn") {
		return
	}
	if v, ok := d.env("DATABASE_URL"); ok && v != "" {
		c.Source.DSN = v
		return
	}
	d.errorf(d.at("source.dsn"), "source.dsn", "is empty; set source.dsn or DATABASE_URL to the application's database, e.g. postgres://walhook@db/app")
}

// subscriberDefaults fills the settings a subscriber left unset.
func (d *decoder) subscriberDefaults(s *Subscriber, c *Config) {
	if s.MaxRetries == unset {
		s.MaxRetries = c.Defaults.MaxRetries
	}
	if s.RetryDelay == unset {
		s.RetryDelay = c.Defaults.RetryDelay
	}
	if s.Timeout == unset {
		s.Timeout = c.Defaults.Timeout
	}
	if s.AutoDisableAfterFailures == unset {
		s.AutoDisableAfterFailures = c.Defaults.AutoDisableAfterFailures
	}
}

// uniqueEvents refuses two events of one name on one table.
func (d *decoder) uniqueEvents(events []Event) {
	seen := make(map[[2]string]int, len(events))
	for i, e := range events {
		if e.Name == "" || e.Table == "" {
			continue
		}
		k := [2]string{e.Table, e.Name}
		if first, dup := seen[k]; dup {
			k := index("events", i) + ".name"
			d.errorf(d.at(k), k, "event %s is already declared for %s at line %d; rename one", e.Name, e.Table, first)
			continue
		}
		seen[k] = e.Line
	}
}

// subscribedEvents checks that each subscription names an event the
// subscriber's table has, and names it once.
func (d *decoder) subscribedEvents(s *Subscriber, key string, events []Event) {
	if s.Table == "" {
		return
	}
	known := append([]string(nil), BuiltinEvents...)
	elsewhere := map[string]string{}
	for _, e := range events {
		if e.Table == s.Table {
			known = append(known, e.Name)
		} else {
			elsewhere[e.Name] = e.Table
		}
	}
	seen := map[string]int{}
	for j, sub := range s.Subscriptions {
		k := index(key+".subscriptions", j) + ".event"
		if sub.Event == "" {
			continue
		}
		if msg := unknownEvent(sub.Event, s.Table, known, elsewhere); msg != "" {
			d.errorf(d.at(k), k, "%s", msg)
			continue
		}
		if first, dup := seen[sub.Event]; dup {
			d.errorf(d.at(k), k, "event %s is already subscribed at line %d; keep one (use another subscriber for a second endpoint)", sub.Event, first)
			continue
		}
		seen[sub.Event] = sub.Line
	}
}

// unknownEvent explains why event is not available on table, or returns "".
func unknownEvent(event, table string, known []string, elsewhere map[string]string) string {
	if contains(known, event) {
		return ""
	}
	if other, ok := elsewhere[event]; ok {
		return fmt.Sprintf("event %s is declared for %s, not %s; declare it under events: with table: %s", event, other, table, table)
	}
	if s := suggest(event, known); s != "" {
		return fmt.Sprintf("unknown event %q for %s; did you mean %s?", event, table, s)
	}
	return fmt.Sprintf("unknown event %q for %s; use created, updated, deleted or truncated, or declare it under events: with table: %s", event, table, table)
}
