// Package config loads walhook's YAML configuration into a validated Config.
//
// Load (a file) and Parse (bytes, with an injectable environment) expand
// ${VAR} and ${VAR:-default} from the environment on parsed scalar values,
// never on keys or raw text (a value that comes from the environment is
// never expanded again; $$ is a literal $), apply defaults, refuse unknown
// keys and report every problem of a file at once as Errors, each printed
// as file:line: key: what is wrong and what to write instead. Tables and
// columns are not checked against the database here: ColumnsByTable lists
// what a start-up check needs.
//
// Config enters walhook here once; domain packages receive plain option
// structs built from it. docs/configuration.md is the reference of every
// key; testdata/walhook.example.yaml uses them all.
package config

import "time"

// Config is a validated walhook configuration. Durations are parsed,
// defaults are applied, and Tables, Events and Subscribers keep the file's
// order.
type Config struct {
	// File is the path the configuration was loaded from ("" when built in
	// memory).
	File string

	Source      Source
	State       State
	Defaults    Defaults
	Delivery    Delivery
	Logs        Logs
	Cache       Cache
	Disabled    bool
	Admin       Admin
	Log         Log
	Tables      []Table
	Events      []Event
	Subscribers []Subscriber
}

// Source is the application's database.
type Source struct {
	DSN         string
	Slot        string // default "walhook"
	Publication string // default "walhook"
}

// State is where walhook keeps its own schema.
type State struct {
	DSN    string // default: Source.DSN
	Schema string // default "walhook"
}

// Defaults are the per-subscriber settings used when a subscriber does not
// set its own (WEBHOOK_SUBSCRIBER's DEFAULT_* settings).
type Defaults struct {
	MaxRetries               int           // default 3
	RetryDelay               time.Duration // default 60s
	Timeout                  time.Duration // default 30s
	AutoDisableAfterFailures int           // default 10; 0 never disables
}

// Delivery configures the HTTP side.
type Delivery struct {
	MaxBatchSize  int      // default 50: ceiling for a subscriber's batch_size
	Concurrency   int      // default 64: requests in flight, all endpoints together
	AllowNetworks []string // CIDRs allowed although loopback/private/link-local
	// PerEndpointConcurrency bounds requests in flight to one endpoint
	// (default 16).
	PerEndpointConcurrency int
	// MaxResponseBytes caps the response body read and kept (default 64 KiB).
	MaxResponseBytes int
}

// Logs configures the delivery log.
type Logs struct {
	RetentionDays int  // default 30
	AutoCleanup   bool // default true
	// Payloads is which attempts keep their request body in the log:
	// "all" (default, as the reference DeliveryLog) or "failures".
	Payloads string
	// Unlogged makes the delivery log an UNLOGGED table: no WAL, so far
	// cheaper writes that the source's walsender never decodes, but the
	// log is emptied by a PostgreSQL crash and absent on replicas
	// (default false).
	Unlogged bool
}

// Values of Logs.Payloads.
const (
	LogPayloadsAll      = "all"
	LogPayloadsFailures = "failures"
)

// Cache configures the subscription cache.
type Cache struct {
	TTL time.Duration // default 300s
}

// Admin configures the admin API and dashboard.
type Admin struct {
	Listen string // default 127.0.0.1:8089
	Token  string
}

// Log configures walhook's own logs (zerolog).
type Log struct {
	Level  string // "debug", "info" (default), "warn" or "error"
	Format string // "json" (default) or "console"
	// Components overrides Level per component: "cdc", "router",
	// "deliver", "store" or "admin".
	Components map[string]string
}

// Table declares a table's projection (the serializer equivalent).
type Table struct {
	Name   string // schema-qualified, e.g. "public.users"
	Fields *Projection
	Line   int // where it was declared, for later error messages
}

// Projection shapes a row into a payload's data.
//
// A list ([id, name]) keeps those columns under their own names. A map
// renames and nests: {id: id, contact: {email: email}} puts column email
// under data.contact.email; a value written {const: X} is the constant X.
type Projection struct {
	// Fields in declaration order.
	Fields []Field
}

// Field is one output key of a Projection: exactly one of Column, Nested
// or Const (HasConst) is set.
type Field struct {
	Key      string
	Column   string
	Nested   *Projection
	Const    any
	HasConst bool
	Line     int
}

// Columns returns every column the projection reads, in order, nested ones
// included.
func (p *Projection) Columns() []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, f := range p.Fields {
		switch {
		case f.Nested != nil:
			out = append(out, f.Nested.Columns()...)
		case f.Column != "":
			out = append(out, f.Column)
		}
	}
	return out
}

// Event declares a custom event. With On set it is conditional and fires
// from the WAL itself; without it it is born only from SQL, `walhook send`
// or the API.
type Event struct {
	Name          string
	Table         string
	On            string   // "", "created", "updated" or "deleted"
	WhenChanged   []string // fire only when one of these columns changed
	IgnoreChanged []string // do not fire when only these columns changed
	// Where are simple conditions on new and old values, all of which must
	// hold.
	Where []Condition
	Line  int
}

// Condition compares a column's new or old value with a constant. In YAML
// (see docs/configuration.md):
//
//	where:
//	  status: paid                  // {Column: status, Op: eq, Value: "paid"}
//	  plan: {ne: free}              // {Op: ne}
//	  state: {changed_to: shipped}  // {Op: changed_to}
//	  kind: {changed_from: trial}   // {Op: changed_from}
//	  tier: {was: gold}             // {Old: true, Op: eq}
//	  owner: {was_not: null}        // {Old: true, Op: ne, Value: nil}
//	  deleted_at: {is_null: true}   // {Op: is_null}; {is_null: false} is not_null
//	  email: {not_null: true}       // {Op: not_null}
//
// Semantics, with "value" the new row's value (or the old row's when Old
// is set; for deleted events the deleted row is the new row):
// eq/ne compare value with Value; is_null/not_null test value for NULL;
// changed_to holds when old != Value and new == Value; changed_from when
// old == Value and new != Value (both only on updated events, Old unused).
// Value is a scalar: string, int, float64, bool or nil.
type Condition struct {
	Column string
	// Old selects the old value instead of the new one.
	Old bool
	// Op is one of "eq", "ne", "changed_to", "changed_from", "is_null",
	// "not_null".
	Op    string
	Value any
}

// Subscriber is one receiver with its subscriptions.
type Subscriber struct {
	Name        string
	Description string
	Table       string
	TargetURL   string
	// Secrets are whsec_ keys; the first signs, all are sent as signatures
	// (key rotation). The YAML key `secret` takes one, `secrets` a list.
	Secrets []string
	Headers map[string]string
	// Fields overrides the table's projection when set.
	Fields                   *Projection
	MaxRetries               int
	RetryDelay               time.Duration
	Timeout                  time.Duration
	AutoDisableAfterFailures int
	// BatchSize is the most events per request (default 1, at most
	// Delivery.MaxBatchSize).
	BatchSize int
	// Unordered opts out of per-row ordering for throughput.
	Unordered     bool
	IsActive      bool // default true
	Subscriptions []Subscription
	Line          int
}

// Subscription is one event a subscriber wants.
type Subscription struct {
	Event          string
	CustomEndpoint string
	// URL is where this subscription's requests go: the subscriber's
	// TargetURL, or CustomEndpoint joined to it (see JoinEndpoint).
	URL      string
	IsActive bool // default true
	Line     int
}
