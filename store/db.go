package store

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/config"
	"github.com/walhook/walhook/router"
)

// Options tune a DB. The zero value is usable: every field has a default.
type Options struct {
	// Logger receives the store's logs (default: disabled).
	Logger zerolog.Logger
	// MaxConns bounds the connection pool (default 10).
	MaxConns int32
	// CacheTTL bounds how long a cached subscription lookup is trusted
	// (cache.ttl, default 300s).
	CacheTTL time.Duration
	// MaxLoggedBody caps the response body kept in the delivery log, in
	// bytes (default 4096).
	MaxLoggedBody int
	// DisableDeliveryLog turns delivery-log rows off; counters and
	// auto-disable still work.
	DisableDeliveryLog bool
	// LogFailedPayloadsOnly leaves request_payload NULL in the log rows of
	// successful attempts (logs.payloads: failures).
	LogFailedPayloadsOnly bool
	// UnloggedDeliveryLog makes RunRecorder switch delivery_log to an
	// UNLOGGED table (logs.unlogged), and back to logged when false.
	UnloggedDeliveryLog bool
	// RecorderBuffer is how many attempts may wait to be written before
	// Record blocks (default 65536).
	RecorderBuffer int
	// FlushInterval and FlushRows bound how long and how many attempts the
	// recorder gathers before it writes a batch (defaults 200ms, 5000).
	FlushInterval time.Duration
	FlushRows     int
	// Tables are the YAML table projections: a subscriber without its own
	// projection uses its table's.
	Tables []config.Table
	// Registerer receives the store's metrics (walhook_store_…); nil
	// registers nothing.
	Registerer prometheus.Registerer
	// WorkerID names this process in retry_queue.locked_by (default
	// hostname:pid).
	WorkerID string
}

func (o Options) withDefaults() Options {
	if o.MaxConns <= 0 {
		o.MaxConns = 10
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 300 * time.Second
	}
	if o.MaxLoggedBody <= 0 {
		o.MaxLoggedBody = 4096
	}
	if o.RecorderBuffer <= 0 {
		o.RecorderBuffer = 65536
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 200 * time.Millisecond
	}
	if o.FlushRows <= 0 {
		o.FlushRows = 5000
	}
	if o.WorkerID == "" {
		host, _ := os.Hostname()
		o.WorkerID = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	return o
}

// DB is walhook's state database. It is safe for concurrent use.
type DB struct {
	pool   *pgxpool.Pool
	schema string
	opts   Options
	log    zerolog.Logger
	q      queries
	rec    *recorder
	parked *parkedSet
	cache  *subCache
	// rowDec reads application rows by key (ReadRow).
	rowDec *cdc.RowDecoder
	// follow guards model and lost. model, once StartFollowing ran, is the
	// subscription tables as of the stream's position (nil: Lookup reads
	// the tables); lost is when Apply had to drop it.
	follow sync.RWMutex
	model  *model
	lost   time.Time
	slot   string
	// health tracks failure streaks and auto-disables.
	health    *health
	tableProj map[string]*router.Projection
	// wakeCh nudges an idle retry worker.
	wakeCh chan struct{}
	// retryRounds counts retry rounds (for tests and stats).
	retryRounds atomic.Int64
	retry       retryStats
}

var schemaName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// Open connects to the state database at dsn and prepares to use schema
// (created by Migrate). It checks the connection; it does not migrate.
// Close releases it.
func Open(ctx context.Context, dsn, schema string, o Options) (*DB, error) {
	if !schemaName.MatchString(schema) {
		return nil, fmt.Errorf("open state database: schema name %q is not a plain identifier; use letters, digits and underscores, like walhook", schema)
	}
	o = o.withDefaults()
	tableProj, err := compileTables(o.Tables)
	if err != nil {
		return nil, fmt.Errorf("open state database: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open state database: parse DSN: %w", err)
	}
	cfg.MaxConns = o.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open state database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open state database: connect: %w", err)
	}
	db := &DB{pool: pool, schema: schema, opts: o, log: o.Logger, tableProj: tableProj, rowDec: cdc.NewRowDecoder()}
	db.health = newHealth()
	db.wakeCh = make(chan struct{}, 1)
	db.q = renderQueries(db.render)
	db.rec = newRecorder(o.RecorderBuffer)
	db.parked = newParkedSet()
	if db.cache, err = newSubCache(o.CacheTTL); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open state database: %w", err)
	}
	if err := db.registerMetrics(o.Registerer); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the cache and the connection pool. Run methods must have
// returned first.
func (db *DB) Close() {
	db.cache.close()
	db.pool.Close()
}

// Schema returns the schema name.
func (db *DB) Schema() string { return db.schema }

// Pool returns the connection pool, for callers that need plain SQL on the
// state database (tests, the CLI).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// PublishedTables returns walhook's tables that belong in the publication,
// schema-qualified: changes to them travel through the WAL so that they take
// effect at an exact point of the stream. The delivery log, counters and
// retry queue are never published.
func (db *DB) PublishedTables() []string {
	return []string{
		db.schema + ".subscribers",
		db.schema + ".subscriptions",
		db.schema + ".control",
	}
}

// SubscriptionTables returns the published tables whose changes must
// invalidate the subscription cache.
func (db *DB) SubscriptionTables() []string {
	return []string{db.schema + ".subscribers", db.schema + ".subscriptions"}
}

// ControlTable returns the schema-qualified name of the control table.
func (db *DB) ControlTable() string { return db.schema + ".control" }

// render replaces {{schema}} in a SQL template with the quoted schema name.
func (db *DB) render(sql string) string {
	return strings.ReplaceAll(sql, "{{schema}}", `"`+db.schema+`"`)
}

func compileTables(tables []config.Table) (map[string]*router.Projection, error) {
	out := make(map[string]*router.Projection, len(tables))
	for _, t := range tables {
		p, err := router.Compile(t.Fields)
		if err != nil {
			return nil, fmt.Errorf("projection of table %s: %w", t.Name, err)
		}
		out[t.Name] = p
	}
	return out, nil
}
