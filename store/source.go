package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walhook/walhook/config"
	"github.com/walhook/walhook/deliver"
	"github.com/walhook/walhook/router"
)

var _ router.Source = (*DB)(nil)

// Lookup returns the subscriptions of table (schema-qualified) to event,
// inactive ones included, from the cache or else from the copy of the
// tables that follows the stream (StartFollowing), or the tables
// themselves when walhook does not follow them. The result is shared and
// must not be modified.
//
// Active is false when the subscription or its subscriber was switched off
// (is_active = false): the router drops those events. A subscriber that was
// auto-disabled (auto_disabled_at set) is different: its events are kept.
// Its subscriptions are returned Active, and HasParked reports every row of
// them as parked, so deliver parks their events without trying them; Park
// stores them as 'disabled' and re-enabling the subscriber releases them.
func (db *DB) Lookup(ctx context.Context, table, event string) ([]*router.Subscription, error) {
	key := table + "/" + event
	if subs, ok := db.cache.get(key); ok {
		return subs, nil
	}
	gen := db.cache.gen.Load()
	v, err, _ := db.cache.sf.Do(key+"#"+strconv.FormatUint(gen, 10), func() (any, error) {
		var subs []*router.Subscription
		if m := db.modelFor(ctx); m != nil {
			subs = db.lookupModel(m, table, event)
		} else {
			var err error
			subs, err = db.loadSubscriptions(ctx, `WHERE sb.table_name = $1 AND sn.event_name = $2`, table, event)
			if err != nil {
				return nil, err
			}
		}
		db.cache.set(key, table, gen, subs)
		return subs, nil
	})
	if err != nil {
		return nil, fmt.Errorf("look up subscriptions of %s to %s: %w", table, event, err)
	}
	return v.([]*router.Subscription), nil
}

// modelFor returns the stream-ordered copy of the subscription tables
// when walhook follows them (StartFollowing), reloading one that Apply had
// to drop; nil means read the tables.
func (db *DB) modelFor(ctx context.Context) *model {
	if m := db.following(); m != nil {
		return m
	}
	return db.recoverModel(ctx)
}

// Invalidate drops every cached lookup, whatever table is: a change to a
// subscriber row may move it between tables, and such changes are rare, so
// walhook clears all rather than track which tables a change touched. The
// next Lookup of each (table, event) builds it again, from the
// stream-ordered copy of the tables when walhook follows them
// (StartFollowing), else from the tables.
func (db *DB) Invalidate(table string) { db.cache.invalidateAll() }

// ClearCache drops cached lookups: all when table is "", else those of
// table, or of table and event when event is set (webhook_cache clear).
func (db *DB) ClearCache(table, event string) { db.cache.clear(table, event) }

// CacheStats returns the cache's statistics (webhook_cache stats).
func (db *DB) CacheStats() CacheStats { return db.cache.stats() }

// WarmCache loads every subscription into the cache (webhook_cache warm)
// and returns how many (table, event) entries it holds.
func (db *DB) WarmCache(ctx context.Context) (int, error) {
	gen := db.cache.gen.Load()
	var subs []*router.Subscription
	if m := db.modelFor(ctx); m != nil {
		subs = db.allModel(m)
	} else {
		var err error
		if subs, err = db.loadSubscriptions(ctx, ""); err != nil {
			return 0, fmt.Errorf("warm subscription cache: %w", err)
		}
	}
	groups := map[[2]string][]*router.Subscription{}
	var order [][2]string
	for _, s := range subs {
		k := [2]string{s.Table, s.Event}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s)
	}
	for _, k := range order {
		db.cache.set(k[0]+"/"+k[1], k[0], gen, groups[k])
	}
	return len(order), nil
}

const loadSubscriptionsSQL = `SELECT sn.id, sn.event_name, sn.custom_endpoint, sn.is_active,
       sb.id, sb.name, sb.table_name, sb.target_url, sb.projection, sb.secrets, sb.headers,
       sb.max_retries, sb.retry_delay_ms, sb.timeout_ms, sb.batch_size, sb.unordered,
       sb.is_active, sb.auto_disabled_at IS NOT NULL,
       sb.auto_disable_after_failures, coalesce(st.consecutive_failures, 0)
FROM {{schema}}.subscriptions sn
JOIN {{schema}}.subscribers sb ON sb.id = sn.subscriber_id
LEFT JOIN {{schema}}.subscriber_stats st ON st.subscriber_id = sb.id
`

// subRow is one row of loadSubscriptionsSQL.
type subRow struct {
	id                          int64
	event, customEndpoint       string
	active                      bool
	subscriberID                int64
	name, table, targetURL      string
	projection                  []byte
	secrets                     []string
	headers                     map[string]string
	maxRetries                  int
	retryDelayMS, timeoutMS     int64
	batchSize                   int
	unordered                   bool
	subscriberActive, suspended bool
	autoDisable, streak         int
}

// loadSubscriptions reads subscriptions (where filters them) and builds
// router subscriptions; it also refreshes the suspended set from what it
// read.
func (db *DB) loadSubscriptions(ctx context.Context, where string, args ...any) ([]*router.Subscription, error) {
	db.cache.loads.Add(1)
	rows, err := db.pool.Query(ctx, db.render(loadSubscriptionsSQL+where+` ORDER BY sb.id, sn.id`), args...)
	if err != nil {
		return nil, err
	}
	raw, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (subRow, error) {
		var s subRow
		err := r.Scan(&s.id, &s.event, &s.customEndpoint, &s.active, &s.subscriberID, &s.name,
			&s.table, &s.targetURL, &s.projection, &s.secrets, &s.headers, &s.maxRetries,
			&s.retryDelayMS, &s.timeoutMS, &s.batchSize, &s.unordered, &s.subscriberActive, &s.suspended,
			&s.autoDisable, &s.streak)
		return s, err
	})
	if err != nil {
		return nil, err
	}
	for i := range raw {
		db.health.learn(&raw[i])
	}
	return db.buildAll(raw), nil
}

// buildSubscription builds a router subscription. On error it still
// returns one, with what could be built (the endpoint's URL is empty when
// it does not resolve, the projection nil when it does not compile).
func (db *DB) buildSubscription(s *subRow) (*router.Subscription, error) {
	target, errURL := router.ResolveEndpoint(s.targetURL, s.customEndpoint)
	if errURL != nil {
		errURL = fmt.Errorf("subscriber %q (id %d): %w", s.name, s.subscriberID, errURL)
	}
	proj, errProj := db.projection(s)
	sub := &router.Subscription{
		ID:           s.id,
		Key:          s.name + "/" + s.event,
		Subscriber:   s.name,
		SubscriberID: s.subscriberID,
		Table:        s.table,
		Event:        s.event,
		Endpoint: &deliver.Endpoint{
			SubscriberID:   s.subscriberID,
			SubscriptionID: s.id,
			Subscriber:     s.name,
			URL:            target,
			Secrets:        s.secrets,
			Headers:        s.headers,
			Timeout:        time.Duration(s.timeoutMS) * time.Millisecond,
			MaxRetries:     s.maxRetries,
			RetryDelay:     time.Duration(s.retryDelayMS) * time.Millisecond,
			BatchSize:      s.batchSize,
			Unordered:      s.unordered,
		},
		Projection: proj,
		Active:     s.active && (s.subscriberActive || s.suspended),
	}
	return sub, errors.Join(errURL, errProj)
}

// projection compiles the subscriber's own projection, or else uses its
// table's projection from Options.Tables (nil: every column).
func (db *DB) projection(s *subRow) (*router.Projection, error) {
	if len(s.projection) == 0 {
		return db.tableProj[s.table], nil
	}
	p, err := config.ParseProjectionJSON(s.projection)
	if err == nil {
		var rp *router.Projection
		if rp, err = router.Compile(p); err == nil {
			return rp, nil
		}
	}
	return nil, fmt.Errorf("subscriber %q (id %d): projection %s: %w; fix the projection column", s.name, s.subscriberID, s.projection, err)
}
