package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/config"
)

func testConfig(subs ...config.Subscriber) *config.Config {
	return &config.Config{
		File: "walhook.yaml",
		Defaults: config.Defaults{
			MaxRetries: 3, RetryDelay: 60 * time.Second, Timeout: 30 * time.Second, AutoDisableAfterFailures: 10,
		},
		Subscribers: subs,
	}
}

func yamlSubscriber(name string, events ...string) config.Subscriber {
	s := config.Subscriber{
		Name: name, Table: "public.users", TargetURL: "https://hooks.example.com/" + name,
		Secrets: []string{"whsec_c2VjcmV0"}, Headers: map[string]string{"X-Api-Key": "abc"},
		MaxRetries: 5, RetryDelay: 2 * time.Second, Timeout: 3 * time.Second,
		AutoDisableAfterFailures: 4, BatchSize: 1, IsActive: true, Line: 10,
		Fields: &config.Projection{Fields: []config.Field{{Key: "mail", Column: "email"}, {Key: "id", Column: "id"}}},
	}
	for _, e := range events {
		s.Subscriptions = append(s.Subscriptions, config.Subscription{Event: e, IsActive: true})
	}
	return s
}

func TestSyncConfigCreatesUpdatesAndDeactivates(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	ctx := context.Background()
	sqlID, _ := addSubscriber(t, db, "made-with-sql", "public.users", "https://sql.example.com/", "created")

	a, b := yamlSubscriber("crm", "created", "updated"), yamlSubscriber("audit", "deleted")
	if err := db.SyncConfig(ctx, testConfig(a, b)); err != nil {
		t.Fatalf("SyncConfig: %v", err)
	}
	if got := scalar[int](t, db, `SELECT count(*) FROM {{schema}}.subscribers WHERE config_managed`); got != 2 {
		t.Fatalf("config-managed subscribers = %d, want 2", got)
	}
	row := scalar[string](t, db, `SELECT concat_ws('|', table_name, target_url, projection::text, array_to_string(secrets, ','), headers::text,
    max_retries, retry_delay_ms, timeout_ms, auto_disable_after_failures, is_active) FROM {{schema}}.subscribers WHERE name = 'crm'`)
	want := `public.users|https://hooks.example.com/crm|{"mail":"email","id":"id"}|whsec_c2VjcmV0|{"X-Api-Key": "abc"}|5|2000|3000|4|t`
	if row != want {
		t.Errorf("crm row =\n %s\nwant\n %s", row, want)
	}

	// Update: crm drops "updated" and changes URL; audit leaves the file.
	a.TargetURL = "https://hooks.example.com/v2"
	a.Subscriptions = a.Subscriptions[:1]
	if err := db.SyncConfig(ctx, testConfig(a)); err != nil {
		t.Fatalf("second SyncConfig: %v", err)
	}
	if got := scalar[string](t, db, `SELECT target_url FROM {{schema}}.subscribers WHERE name = 'crm'`); got != a.TargetURL {
		t.Errorf("crm target_url = %s, want %s", got, a.TargetURL)
	}
	if got := scalar[string](t, db, `SELECT string_agg(event_name || '=' || s.is_active, ',' ORDER BY event_name) FROM {{schema}}.subscriptions s
JOIN {{schema}}.subscribers sb ON sb.id = s.subscriber_id WHERE sb.name = 'crm'`); got != "created=true,updated=false" {
		t.Errorf("crm subscriptions = %s", got)
	}
	if got := scalar[string](t, db, `SELECT is_active || ':' || disabled_reason FROM {{schema}}.subscribers WHERE name = 'audit'`); got != "false:"+reasonRemoved {
		t.Errorf("audit = %s, want deactivated as removed", got)
	}
	if got := scalar[bool](t, db, `SELECT is_active AND NOT config_managed FROM {{schema}}.subscribers WHERE id = $1`, sqlID); !got {
		t.Errorf("SQL-made subscriber was touched")
	}

	// Back in the file: active again.
	if err := db.SyncConfig(ctx, testConfig(a, b)); err != nil {
		t.Fatalf("third SyncConfig: %v", err)
	}
	if got := scalar[bool](t, db, `SELECT is_active AND disabled_reason IS NULL FROM {{schema}}.subscribers WHERE name = 'audit'`); !got {
		t.Errorf("audit not re-activated")
	}
}

func TestSyncConfigRefusesNameOfSQLSubscriber(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	addSubscriber(t, db, "crm", "public.users", "https://sql.example.com/", "created")
	err := db.SyncConfig(context.Background(), testConfig(yamlSubscriber("crm", "created")))
	if err == nil || !strings.Contains(err.Error(), "created with SQL") || !strings.Contains(err.Error(), "walhook.yaml:10") {
		t.Fatalf("SyncConfig = %v, want a name clash error naming file:line", err)
	}
}

func TestSyncConfigKeepsAutoDisable(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	ctx := context.Background()
	cfg := testConfig(yamlSubscriber("crm", "created"))
	if err := db.SyncConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	exec(t, db, `UPDATE {{schema}}.subscribers SET is_active = false, auto_disabled_at = now(), disabled_reason = 'x' WHERE name = 'crm'`)
	if err := db.SyncConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if got := scalar[bool](t, db, `SELECT NOT is_active AND auto_disabled_at IS NOT NULL FROM {{schema}}.subscribers WHERE name = 'crm'`); !got {
		t.Fatalf("sync re-enabled an auto-disabled subscriber")
	}
}

func TestSyncConfigSetsColumnDefaults(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	cfg := testConfig()
	cfg.Defaults = config.Defaults{MaxRetries: 7, RetryDelay: 5 * time.Second, Timeout: 9 * time.Second, AutoDisableAfterFailures: 0}
	if err := db.SyncConfig(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	id, _ := addSubscriber(t, db, "s", "public.t", "https://x.example.com/")
	got := scalar[string](t, db, `SELECT concat_ws(',', max_retries, retry_delay_ms, timeout_ms) FROM {{schema}}.subscribers WHERE id = $1`, id)
	if got != "7,1000,9000" { // retry_delay_ms given explicitly by addSubscriber
		t.Fatalf("defaults applied = %s, want 7,1000,9000", got)
	}
	if err := db.SyncConfig(context.Background(), cfg); err != nil {
		t.Fatalf("idempotent SyncConfig: %v", err)
	}
}

func TestSyncConfigWritesNothingWhenUnchanged(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	ctx := context.Background()
	cfg := testConfig(yamlSubscriber("crm", "created"), yamlSubscriber("off", "created"))
	cfg.Subscribers[1].IsActive = false
	if err := db.SyncConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	before := scalar[string](t, db, `SELECT string_agg(xmin::text, ',' ORDER BY id) FROM {{schema}}.subscribers`)
	beforeSubs := scalar[string](t, db, `SELECT string_agg(xmin::text, ',' ORDER BY id) FROM {{schema}}.subscriptions`)
	if err := db.SyncConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if after := scalar[string](t, db, `SELECT string_agg(xmin::text, ',' ORDER BY id) FROM {{schema}}.subscribers`); after != before {
		t.Errorf("unchanged subscribers rewritten: xmin %s -> %s", before, after)
	}
	if after := scalar[string](t, db, `SELECT string_agg(xmin::text, ',' ORDER BY id) FROM {{schema}}.subscriptions`); after != beforeSubs {
		t.Errorf("unchanged subscriptions rewritten: xmin %s -> %s", beforeSubs, after)
	}
}
