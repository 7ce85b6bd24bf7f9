package router

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/config"
	"github.com/walhook/walhook/deliver"
)

// Subscription is one subscriber's wish for one event of one table, with
// everything needed to build and send its events.
type Subscription struct {
	// ID identifies the subscription in walhook's state (0 when it comes
	// from the YAML file only).
	ID int64
	// Key is the subscription's stable identity, e.g. "<subscriber>/<event>".
	// It is part of every event id, so it must not change while events may
	// still be redelivered.
	Key          string
	Subscriber   string
	SubscriberID int64
	// Table is schema-qualified ("public.users").
	Table string
	Event string
	// Endpoint is shared by all events of the subscription.
	Endpoint *deliver.Endpoint
	// Projection shapes the data; nil means every column.
	Projection *Projection
	// Active is false when the subscriber or the subscription is switched
	// off: its events are dropped (counted, settled).
	Active bool
}

// Source finds the subscriptions for a table and event. Implementations
// must be safe for concurrent use (Router.Send runs beside the stream).
type Source interface {
	// Lookup returns the subscriptions of table (schema-qualified) to
	// event, inactive ones included. The result must not be modified. An
	// error stops the stream: nothing past the failing change is
	// acknowledged, and the transaction is routed again after restart.
	Lookup(ctx context.Context, table, event string) ([]*Subscription, error)
	// Invalidate drops what is cached for the subscriptions of table, or
	// for all tables when table is "". The Router calls it at the exact
	// point of the stream where walhook's subscription tables changed,
	// before it routes the next change.
	Invalidate(table string)
}

// Follower is a Source that keeps its own copy of walhook's subscription
// tables (subscribers, subscriptions) and control row as of the stream's
// position. The Router hands it every change of those tables, in stream
// order, before it routes the next change, instead of calling Invalidate
// (control changes too, so that the copy knows the pause switch): a Lookup after
// Apply sees exactly the tables as that change left them, however far the
// stream is behind the database. Apply gets inserts, updates, deletes and
// truncates (whose Relations may include other tables, to be ignored). It
// must not fail: a row image it cannot read is logged and the Follower
// falls back to reading the tables.
//
// Commit is called when a transaction with such changes commits, with the
// transaction's end LSN, before the transaction is sealed (so before the
// slot can be acknowledged past it): the Follower makes its copy as of
// that position durable, so that a restart behind later changes resumes
// from the right copy. Its error
// stops the stream. Discard is called instead when the transaction is
// abandoned (the stream stopped inside it and will send it again): the
// copy returns to its state at the last Commit.
type Follower interface {
	Source
	Apply(c *cdc.Change)
	Commit(ctx context.Context, endLSN cdc.LSN) error
	Discard()
}

// Static is a Source over subscriptions fixed at start-up (from the YAML
// file). It is safe for concurrent use.
type Static struct {
	subs map[lookupKey][]*Subscription
	all  []*Subscription
}

type lookupKey struct{ table, event string }

var _ Source = (*Static)(nil)

// StaticSource builds the subscriptions of the file's subscribers. A
// subscriber's fields override its table's projection; custom_endpoint is
// resolved against target_url (see ResolveEndpoint). Keys are
// "<subscriber>/<event>", made unique with the custom endpoint when a
// subscriber subscribes twice to one event. It returns an error naming the
// subscriber when a projection does not compile or a URL does not parse.
func StaticSource(cfg *config.Config) (*Static, error) {
	tables, err := tableProjections(cfg)
	if err != nil {
		return nil, err
	}
	s := &Static{subs: map[lookupKey][]*Subscription{}}
	keys := map[string]bool{}
	for i := range cfg.Subscribers {
		if err := s.addSubscriber(cfg, &cfg.Subscribers[i], tables, keys); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func tableProjections(cfg *config.Config) (map[string]*Projection, error) {
	out := make(map[string]*Projection, len(cfg.Tables))
	for _, t := range cfg.Tables {
		p, err := Compile(t.Fields)
		if err != nil {
			return nil, fmt.Errorf("table %s (line %d): %w", t.Name, t.Line, err)
		}
		out[t.Name] = p
	}
	return out, nil
}

func (s *Static) addSubscriber(cfg *config.Config, sc *config.Subscriber, tables map[string]*Projection, keys map[string]bool) error {
	proj := tables[sc.Table]
	if sc.Fields != nil {
		p, err := Compile(sc.Fields)
		if err != nil {
			return fmt.Errorf("subscriber %q (line %d): %w", sc.Name, sc.Line, err)
		}
		proj = p
	}
	for _, sub := range sc.Subscriptions {
		target, err := ResolveEndpoint(sc.TargetURL, sub.CustomEndpoint)
		if err != nil {
			return fmt.Errorf("subscriber %q, event %s (line %d): %w", sc.Name, sub.Event, sub.Line, err)
		}
		key := sc.Name + "/" + sub.Event
		if keys[key] {
			key += "/" + sub.CustomEndpoint
		}
		keys[key] = true
		rs := &Subscription{
			Key:        key,
			Subscriber: sc.Name,
			Table:      sc.Table,
			Event:      sub.Event,
			Endpoint:   endpoint(cfg, sc, target),
			Projection: proj,
			Active:     sc.IsActive && sub.IsActive,
		}
		lk := lookupKey{sc.Table, sub.Event}
		s.subs[lk] = append(s.subs[lk], rs)
		s.all = append(s.all, rs)
	}
	return nil
}

// endpoint builds a subscription's delivery settings, falling back on the
// file's defaults for durations left zero.
func endpoint(cfg *config.Config, sc *config.Subscriber, target string) *deliver.Endpoint {
	e := &deliver.Endpoint{
		Subscriber: sc.Name,
		URL:        target,
		Secrets:    sc.Secrets,
		Headers:    sc.Headers,
		Timeout:    sc.Timeout,
		MaxRetries: sc.MaxRetries,
		RetryDelay: sc.RetryDelay,
		BatchSize:  sc.BatchSize,
		Unordered:  sc.Unordered,
	}
	if e.Timeout == 0 {
		e.Timeout = cfg.Defaults.Timeout
	}
	if e.RetryDelay == 0 {
		e.RetryDelay = cfg.Defaults.RetryDelay
	}
	return e
}

// Lookup returns the subscriptions of table to event. It never fails.
func (s *Static) Lookup(_ context.Context, table, event string) ([]*Subscription, error) {
	return s.subs[lookupKey{table, event}], nil
}

// Invalidate does nothing: static subscriptions never change.
func (s *Static) Invalidate(string) {}

// All returns every subscription in file order. The result must not be
// modified.
func (s *Static) All() []*Subscription { return s.all }

// ResolveEndpoint returns the URL a subscription posts to. An empty custom
// endpoint gives target; an absolute URL (with a scheme) replaces target; a
// path is joined onto target's path ("https://h/webhooks" +
// "/users/updated" = "https://h/webhooks/users/updated"), keeping target's
// query unless the custom endpoint has its own.
func ResolveEndpoint(target, custom string) (string, error) {
	base, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("parse target_url %q: %w", target, err)
	}
	if custom == "" {
		return base.String(), nil
	}
	ref, err := url.Parse(custom)
	if err != nil {
		return "", fmt.Errorf("parse custom_endpoint %q: %w", custom, err)
	}
	if ref.IsAbs() {
		return ref.String(), nil
	}
	if ref.Host != "" {
		return "", fmt.Errorf("resolve custom_endpoint %q: a host needs a scheme: write https://%s%s, or a path such as /users/updated", custom, ref.Host, ref.Path)
	}
	out := *base
	out.Path = strings.TrimRight(base.Path, "/") + "/" + strings.TrimLeft(ref.Path, "/")
	out.RawPath = ""
	if ref.RawQuery != "" {
		out.RawQuery = ref.RawQuery
	}
	out.Fragment = ""
	return out.String(), nil
}
