package config_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/config"
)

// listProjection builds the projection of a YAML list on one line.
func listProjection(line int, cols ...string) *config.Projection {
	p := &config.Projection{}
	for _, c := range cols {
		p.Fields = append(p.Fields, config.Field{Key: c, Column: c, Line: line})
	}
	return p
}

func TestParseDesignExample(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(fixtureDir + "/good/design.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"DATABASE_URL":       "postgres://walhook:pw@db:5432/app",
		"CRM_WEBHOOK_SECRET": testSecret,
	}
	got, err := config.Parse("walhook.yaml", data, envOf(env))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &config.Config{
		File:     "walhook.yaml",
		Source:   config.Source{DSN: "postgres://walhook:pw@db:5432/app", Slot: "walhook", Publication: "walhook"},
		State:    config.State{DSN: "postgres://walhook:pw@db:5432/app", Schema: "walhook"},
		Defaults: config.Defaults{MaxRetries: 3, RetryDelay: time.Minute, Timeout: 30 * time.Second, AutoDisableAfterFailures: 10},
		Delivery: config.Delivery{MaxBatchSize: 50, Concurrency: 64, AllowNetworks: []string{}, PerEndpointConcurrency: 16, MaxResponseBytes: 65536},
		Logs:     config.Logs{RetentionDays: 30, AutoCleanup: true, Payloads: "all"},
		Cache:    config.Cache{TTL: 300 * time.Second},
		Admin:    config.Admin{Listen: "127.0.0.1:8089"},
		Log:      config.Log{Level: "info", Format: "json"},
		Tables:   []config.Table{{Name: "public.users", Fields: listProjection(29, "id", "name", "email"), Line: 28}},
		Events: []config.Event{
			{Name: "email_updated", Table: "public.users", On: "updated", WhenChanged: []string{"email"}, Line: 31},
			{Name: "paid", Table: "public.orders", Line: 35},
		},
		Subscribers: []config.Subscriber{{
			Name:                     "My External API",
			Description:              "Receives user events",
			Table:                    "public.users",
			TargetURL:                "https://api.example.com/webhooks",
			Secrets:                  []string{testSecret},
			Headers:                  map[string]string{"X-Api-Key": "abc"},
			Fields:                   listProjection(44, "id", "email"),
			MaxRetries:               3,
			RetryDelay:               time.Minute,
			Timeout:                  30 * time.Second,
			AutoDisableAfterFailures: 10,
			BatchSize:                1,
			IsActive:                 true,
			Subscriptions: []config.Subscription{
				{Event: "created", URL: "https://api.example.com/webhooks", IsActive: true, Line: 50},
				{Event: "updated", CustomEndpoint: "/users/updated", URL: "https://api.example.com/webhooks/users/updated", IsActive: true, Line: 51},
			},
			Line: 38,
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseAppliesDefaults(t *testing.T) {
	t.Parallel()
	src := `
defaults:
  max_retries: 7
  timeout: 5
subscribers:
  - name: a
    table: public.users
    target_url: http://hooks.example.com/a
    subscriptions: [{event: created}]
  - name: b
    table: public.users
    target_url: http://hooks.example.com/b
    max_retries: 0
    retry_delay: 0s
    is_active: false
    batch_size: 50
    unordered: true
    subscriptions: [{event: deleted, is_active: false}]
`
	c := mustParse(t, src, baseEnv())
	if c.Source.DSN != "postgres://app@db/app" || c.State.DSN != c.Source.DSN {
		t.Errorf("DSN fallback: source %q state %q", c.Source.DSN, c.State.DSN)
	}
	if c.Source.Slot != "walhook" || c.Source.Publication != "walhook" || c.State.Schema != "walhook" {
		t.Errorf("names: %+v %+v", c.Source, c.State)
	}
	wantDelivery := config.Delivery{MaxBatchSize: 50, Concurrency: 64, PerEndpointConcurrency: 16, MaxResponseBytes: 65536}
	if !reflect.DeepEqual(c.Delivery, wantDelivery) {
		t.Errorf("Delivery = %+v, want %+v", c.Delivery, wantDelivery)
	}
	if c.Logs != (config.Logs{RetentionDays: 30, AutoCleanup: true, Payloads: "all"}) || c.Cache.TTL != 5*time.Minute || c.Admin.Listen != "127.0.0.1:8089" {
		t.Errorf("Logs %+v Cache %+v Admin %+v", c.Logs, c.Cache, c.Admin)
	}
	a, b := c.Subscribers[0], c.Subscribers[1]
	if a.MaxRetries != 7 || a.RetryDelay != time.Minute || a.Timeout != 5*time.Second || a.AutoDisableAfterFailures != 10 {
		t.Errorf("a does not fall back to defaults: %+v", a)
	}
	if !a.IsActive || a.BatchSize != 1 || a.Unordered || !a.Subscriptions[0].IsActive {
		t.Errorf("a flags: %+v", a)
	}
	if b.MaxRetries != 0 || b.RetryDelay != 0 || b.IsActive || b.BatchSize != 50 || !b.Unordered || b.Subscriptions[0].IsActive {
		t.Errorf("b's own settings lost: %+v", b)
	}
}

func TestParseLogsStorageOptions(t *testing.T) {
	t.Parallel()
	c := mustParse(t, "logs:\n  payloads: failures\n  unlogged: true\n", baseEnv())
	want := config.Logs{RetentionDays: 30, AutoCleanup: true, Payloads: config.LogPayloadsFailures, Unlogged: true}
	if c.Logs != want {
		t.Errorf("Logs = %+v, want %+v", c.Logs, want)
	}
}

func TestParseEmptyFileNeedsOnlyDatabaseURL(t *testing.T) {
	t.Parallel()
	c := mustParse(t, "", baseEnv())
	if c.Source.DSN != "postgres://app@db/app" {
		t.Errorf("DSN = %q", c.Source.DSN)
	}
	errs := parseErrors(t, "", nil)
	if len(errs) != 1 || errs[0].Key != "source.dsn" {
		t.Errorf("empty file, no env: %v", errs)
	}
}

func TestParseExpandsEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"DATABASE_URL": "postgres://u:pa$$w${x}rd@db/app", // $ from the env stays as is
		"RETRIES":      "9",
		"EMPTY":        "",
	}
	tests := []struct {
		value, want string
	}{
		{"${DATABASE_URL}", "postgres://u:pa$$w${x}rd@db/app"},
		{"pre-${RETRIES}-post", "pre-9-post"},
		{"${MISSING:-fallback}", "fallback"},
		{"${MISSING:-}", ""},
		{"${EMPTY:-used when empty}", "used when empty"},
		{"${EMPTY}", ""},
		{"${RETRIES:-1}", "9"},
		{"$${RETRIES}", "${RETRIES}"},
		{"cost: $$5", "cost: $5"},
		{"a $ alone and $x stay", "a $ alone and $x stay"},
		{"${MISSING:-${RETRIES}", "${RETRIES"},
		{"trailing $", "trailing $"},
	}
	for _, tt := range tests {
		src := "source:\n  dsn: postgres://db/app\nadmin:\n  token: '" + tt.value + "'\n"
		c := mustParse(t, src, env)
		if c.Admin.Token != tt.want {
			t.Errorf("%q expands to %q, want %q", tt.value, c.Admin.Token, tt.want)
		}
	}
	c := mustParse(t, "defaults:\n  max_retries: ${RETRIES}\n  timeout: ${TIMEOUT:-45s}\n", env)
	if c.Defaults.MaxRetries != 9 || c.Defaults.Timeout != 45*time.Second {
		t.Errorf("typed values from env: %+v", c.Defaults)
	}
}

func TestParseNeverExpandsKeys(t *testing.T) {
	t.Parallel()
	errs := parseErrors(t, "${KEY}: 1\n", map[string]string{"KEY": "disabled", "DATABASE_URL": "x"})
	if !strings.Contains(errs.Error(), "${KEY}: unknown key") {
		t.Errorf("got %v", errs)
	}
}

func TestParseExampleFile(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../testdata/walhook.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(testSecret, "Mf", "Ab", 1)
	env := map[string]string{
		"DATABASE_URL":       "postgres://walhook:pw@db/app",
		"CRM_WEBHOOK_SECRET": testSecret,
		"CRM_API_KEY":        "k-123",
		"BILLING_SECRET":     testSecret,
		"BILLING_SECRET_OLD": old,
	}
	c, err := config.Parse("walhook.example.yaml", data, envOf(env))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(c.Tables) != 2 || len(c.Events) != 5 || len(c.Subscribers) != 2 {
		t.Fatalf("parsed %d tables, %d events, %d subscribers", len(c.Tables), len(c.Events), len(c.Subscribers))
	}
	if got := c.Delivery.AllowNetworks; !reflect.DeepEqual(got, []string{"10.20.0.0/16", "fd00::/8"}) {
		t.Errorf("AllowNetworks = %v", got)
	}
	billing := c.Subscribers[1]
	if !reflect.DeepEqual(billing.Secrets, []string{testSecret, old}) || billing.BatchSize != 25 || !billing.Unordered {
		t.Errorf("billing = %+v", billing)
	}
	if got := billing.Subscriptions[1].URL; got != "https://billing.example.com/refunds" {
		t.Errorf("absolute custom endpoint URL = %q", got)
	}
	wantWhere := []config.Condition{
		{Column: "status", Op: "changed_to", Value: "paid"},
		{Column: "total", Op: "ne", Value: 0},
	}
	if got := c.Events[2].Where; !reflect.DeepEqual(got, wantWhere) {
		t.Errorf("where = %+v, want %+v", got, wantWhere)
	}
	if c.Log.Components["deliver"] != "debug" || c.Subscribers[0].Headers["X-Api-Key"] != "k-123" {
		t.Errorf("log %+v headers %+v", c.Log, c.Subscribers[0].Headers)
	}
}

func TestParseWhere(t *testing.T) {
	t.Parallel()
	src := `
events:
  - name: e
    table: public.t
    on: updated
    where:
      status: paid
      plan: {ne: free, was: trial}
      kind: {changed_from: draft}
      owner: {was_not: null}
      deleted_at: {is_null: true}
      email: {is_null: false}
      flag: {not_null: true}
      amount: {eq: 2.5}
`
	c := mustParse(t, src, baseEnv())
	want := []config.Condition{
		{Column: "status", Op: "eq", Value: "paid"},
		{Column: "plan", Op: "ne", Value: "free"},
		{Column: "plan", Old: true, Op: "eq", Value: "trial"},
		{Column: "kind", Op: "changed_from", Value: "draft"},
		{Column: "owner", Old: true, Op: "ne", Value: nil},
		{Column: "deleted_at", Op: "is_null"},
		{Column: "email", Op: "not_null"},
		{Column: "flag", Op: "not_null"},
		{Column: "amount", Op: "eq", Value: 2.5},
	}
	if got := c.Events[0].Where; !reflect.DeepEqual(got, want) {
		t.Errorf("Where =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseMergeKeys(t *testing.T) {
	t.Parallel()
	src := `
subscribers:
  - &base
    name: a
    table: public.users
    target_url: https://hooks.example.com/a
    timeout: 3s
    subscriptions: [{event: created}]
  - <<: *base
    name: b
    timeout: 4s
`
	c := mustParse(t, src, baseEnv())
	b := c.Subscribers[1]
	if b.Name != "b" || b.Timeout != 4*time.Second || b.TargetURL != "https://hooks.example.com/a" || len(b.Subscriptions) != 1 {
		t.Errorf("merged subscriber = %+v", b)
	}
}

func TestParseAdminTokenAllowsPublicListen(t *testing.T) {
	t.Parallel()
	c := mustParse(t, "admin:\n  listen: 0.0.0.0:8089\n  token: ${TOKEN}\n", map[string]string{"DATABASE_URL": "x", "TOKEN": "t0k3n"})
	if c.Admin.Listen != "0.0.0.0:8089" || c.Admin.Token != "t0k3n" {
		t.Errorf("Admin = %+v", c.Admin)
	}
	mustParse(t, "admin:\n  listen: localhost:9000\n", baseEnv())
	mustParse(t, "admin:\n  listen: '[::1]:9000'\n", baseEnv())
}

func TestColumnsByTable(t *testing.T) {
	t.Parallel()
	src := `
tables:
  public.users: {fields: {id: id, contact: {email: email, phone: phone}, plan: {const: pro}}}
  public.audit: {}
events:
  - {name: e, table: public.users, on: updated, when_changed: [name], ignore_changed: [updated_at], where: {status: paid}}
subscribers:
  - {name: s, table: public.orders, target_url: "https://x.example.com", fields: [id, total, id2]}
`
	got := mustParse(t, src, baseEnv()).ColumnsByTable()
	want := map[string][]string{
		"public.users":  {"email", "id", "name", "phone", "status", "updated_at"},
		"public.audit":  {},
		"public.orders": {"id", "id2", "total"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ColumnsByTable = %v, want %v", got, want)
	}
}

func TestProjectionFor(t *testing.T) {
	t.Parallel()
	src := `
tables:
  public.users: {fields: [id, email]}
subscribers:
  - {name: own, table: public.users, target_url: "https://x.example.com", fields: [id]}
  - {name: table, table: public.users, target_url: "https://x.example.com"}
  - {name: all, table: public.orders, target_url: "https://x.example.com"}
`
	c := mustParse(t, src, baseEnv())
	for i, want := range [][]string{{"id"}, {"id", "email"}, nil} {
		if got := c.ProjectionFor(&c.Subscribers[i]).Columns(); !reflect.DeepEqual(got, want) {
			t.Errorf("subscriber %d: columns %v, want %v", i, got, want)
		}
	}
}

func TestJoinEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		target, custom, want, err string
	}{
		{"https://a.example.com/hooks", "", "https://a.example.com/hooks", ""},
		{"https://a.example.com/hooks", "/users/updated", "https://a.example.com/hooks/users/updated", ""},
		{"https://a.example.com/hooks/", "users", "https://a.example.com/hooks/users", ""},
		{"https://a.example.com", "/x", "https://a.example.com/x", ""},
		{"https://a.example.com/h?k=1", "/x", "https://a.example.com/h/x?k=1", ""},
		{"https://a.example.com/h?k=1", "/x?j=2", "https://a.example.com/h/x?j=2", ""},
		{"https://a.example.com/h", "http://b.example.com/y", "http://b.example.com/y", ""},
		{"https://a.example.com/h", "javascript:alert(1)", "", "is not an http(s) URL"},
		{"https://a.example.com/h", "//b.example.com/y", "", "names a host without a scheme"},
		{"ftp://a.example.com/h", "/x", "", "is not an http(s) URL"},
	}
	for _, tt := range tests {
		got, err := config.JoinEndpoint(tt.target, tt.custom)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("JoinEndpoint(%q, %q) = %q, %v; want %q, %q", tt.target, tt.custom, got, err, tt.want, tt.err)
		}
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	for _, good := range []string{testSecret, "whsec_" + strings.Repeat("A", 32), "whsec_" + strings.Repeat("A", 43), "whsec_" + strings.Repeat("A", 86) + "=="} {
		if err := config.CheckSecret(good); err != nil {
			t.Errorf("CheckSecret(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_AAAA", "whsec_" + strings.Repeat("A", 31), "whsec_" + strings.Repeat("A", 88), "whsec_$$$$"} {
		err := config.CheckSecret(bad)
		if err == nil {
			t.Errorf("CheckSecret(%q) accepted", bad)
			continue
		}
		if bad != "" && bad != "whsec_" && strings.Contains(err.Error(), bad) {
			t.Errorf("error shows the secret: %v", err)
		}
	}
}

// TestParseGoodFixtures parses every shared good fixture with the
// environment they document.
func TestParseGoodFixtures(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": "postgres://walhook@db/app", "CRM_WEBHOOK_SECRET": testSecret}
	for _, path := range globFixtures(t, "good/*.yaml") {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := config.Parse(path, data, envOf(env)); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}
