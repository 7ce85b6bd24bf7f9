package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walhook/walhook/config"
)

func TestParseRefusesBadConfig(t *testing.T) {
	t.Parallel()
	sub := func(extra string) string {
		return "subscribers:\n  - name: crm\n    table: public.users\n    target_url: https://crm.example.com/hook\n" + extra
	}
	tests := []struct {
		name string
		src  string
		env  map[string]string // added to baseEnv
		want string
	}{
		{
			name: "malformed YAML",
			src:  "source:\n  dsn: x\n slot: y\n",
			want: "walhook.yaml:3: malformed YAML: did not find expected key",
		},
		{
			name: "malformed YAML on line 1",
			src:  "source: a: b\n",
			want: "walhook.yaml:1: malformed YAML: mapping values are not allowed in this context",
		},
		{
			name: "tab indentation",
			src:  "source:\n\tdsn: x\n",
			want: "walhook.yaml:2: malformed YAML: found character that cannot start any token; indent with spaces, not tabs",
		},
		{
			name: "two documents",
			src:  "disabled: true\n---\ndisabled: false\n",
			want: "walhook.yaml:2: malformed YAML: a second YAML document starts here; walhook reads one document, remove the --- separator",
		},
		{
			name: "unknown alias",
			src:  "disabled: true\nlogs: *common\n",
			want: "walhook.yaml:2: malformed YAML: alias *common refers to no anchor; define &common before using it",
		},
		{
			name: "not a mapping",
			src:  "- source\n",
			want: "walhook.yaml:1: want a mapping (key: value lines), got a list",
		},
		{
			name: "unknown key with suggestion",
			src:  sub("    targt_url: https://x.example.com\n"),
			want: "walhook.yaml:5: subscribers[0].targt_url: unknown key; did you mean target_url?",
		},
		{
			name: "unknown key without suggestion",
			src:  "cache:\n  size: 10\n",
			want: "walhook.yaml:2: cache.size: unknown key; valid keys here are ttl",
		},
		{
			name: "unknown top-level key",
			src:  "subscriber: []\n",
			want: "walhook.yaml:1: subscriber: unknown key; did you mean subscribers?",
		},
		{
			name: "duplicate key",
			src:  "disabled: true\ndisabled: false\n",
			want: "walhook.yaml:2: disabled: key appears twice (first at line 1); keep one",
		},
		{
			name: "bad duration",
			src:  "defaults:\n  retry_delay: soon\n",
			want: `walhook.yaml:2: defaults.retry_delay: "soon" is not a duration; write a duration like 30s or 2m`,
		},
		{
			name: "zero timeout",
			src:  "defaults:\n  timeout: 0s\n",
			want: "walhook.yaml:2: defaults.timeout: must be more than zero; write a duration like 30s or 2m",
		},
		{
			name: "negative duration",
			src:  "cache:\n  ttl: -5\n",
			want: "walhook.yaml:2: cache.ttl: -5 is negative; write a duration like 30s or 2m",
		},
		{
			name: "wrong type",
			src:  "defaults:\n  max_retries: three\n",
			want: `walhook.yaml:2: defaults.max_retries: want a whole number, got "three"`,
		},
		{
			name: "mapping where a number goes",
			src:  "delivery:\n  concurrency: {a: 1}\n",
			want: "walhook.yaml:2: delivery.concurrency: want a whole number, got a mapping",
		},
		{
			name: "negative number",
			src:  "defaults:\n  max_retries: -1\n",
			want: "walhook.yaml:2: defaults.max_retries: -1 is too small; write a number of at least 0",
		},
		{
			name: "zero concurrency",
			src:  "delivery:\n  concurrency: 0\n",
			want: "walhook.yaml:2: delivery.concurrency: 0 is too small; write a number of at least 1",
		},
		{
			name: "bad boolean",
			src:  "disabled: maybe\n",
			want: `walhook.yaml:1: disabled: want true or false, got "maybe"`,
		},
		{
			name: "file target",
			src:  "subscribers:\n  - name: crm\n    table: public.users\n    target_url: file:///etc/passwd\n",
			want: `walhook.yaml:4: subscribers[0].target_url: "file:///etc/passwd" is not an http(s) URL; write an absolute URL like https://api.example.com/webhooks`,
		},
		{
			name: "custom endpoint leaving http",
			src:  sub("    subscriptions:\n      - event: created\n        custom_endpoint: ftp://crm.example.com/in\n"),
			want: `walhook.yaml:7: subscribers[0].subscriptions[0].custom_endpoint: "ftp://crm.example.com/in" is not an http(s) URL; write an absolute URL like https://api.example.com/webhooks`,
		},
		{
			name: "custom endpoint with host but no scheme",
			src:  sub("    subscriptions:\n      - event: created\n        custom_endpoint: //evil.example.com/x\n"),
			want: `walhook.yaml:7: subscribers[0].subscriptions[0].custom_endpoint: "//evil.example.com/x" names a host without a scheme; write an absolute URL like https://evil.example.com/x`,
		},
		{
			name: "unset env var",
			src:  "source:\n  dsn: ${APP_DSN}\n",
			want: "walhook.yaml:2: source.dsn: environment variable APP_DSN is not set; set it, or write ${APP_DSN:-default}",
		},
		{
			name: "bad env reference",
			src:  "admin:\n  token: ${WALHOOK TOKEN}\n",
			want: `walhook.yaml:2: admin.token: "${WALHOOK TOKEN}" is not a valid environment variable reference; write ${VAR} or ${VAR:-default} with VAR made of letters, digits and _, or $$ for a literal $`,
		},
		{
			name: "unterminated env reference",
			src:  "admin:\n  token: abc${TOKEN\n",
			want: `walhook.yaml:2: admin.token: unterminated "${TOKEN"; write ${VAR}, ${VAR:-default}, or $$ for a literal $`,
		},
		{
			name: "malformed secret",
			src:  sub("    secret: whsec_short\n"),
			want: "walhook.yaml:5: subscribers[0].secret: not a valid secret: write whsec_ followed by the base64 of 24 to 64 random bytes; generate one with: walhook secret generate",
		},
		{
			name: "secret without prefix, from the environment",
			src:  sub("    secret: ${CRM_SECRET}\n"),
			env:  map[string]string{"CRM_SECRET": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
			want: "walhook.yaml:5: subscribers[0].secret: not a valid secret: write whsec_ followed by the base64 of 24 to 64 random bytes; generate one with: walhook secret generate",
		},
		{
			name: "malformed secret in a rotation list",
			src:  sub("    secrets:\n      - " + testSecret + "\n      - whsec_!!!\n"),
			want: "walhook.yaml:7: subscribers[0].secrets[1]: not a valid secret: write whsec_ followed by the base64 of 24 to 64 random bytes; generate one with: walhook secret generate",
		},
		{
			name: "secret and secrets",
			src:  sub("    secret: " + testSecret + "\n    secrets: [" + testSecret + "]\n"),
			want: "walhook.yaml:6: subscribers[0].secrets: write either secret (one key) or secrets (a list, first signs), not both",
		},
		{
			name: "unknown event with suggestion",
			src:  sub("    subscriptions:\n      - event: creatd\n"),
			want: `walhook.yaml:6: subscribers[0].subscriptions[0].event: unknown event "creatd" for public.users; did you mean created?`,
		},
		{
			name: "unknown event without suggestion",
			src:  sub("    subscriptions:\n      - event: shipped\n"),
			want: `walhook.yaml:6: subscribers[0].subscriptions[0].event: unknown event "shipped" for public.users; use created, updated, deleted or truncated, or declare it under events: with table: public.users`,
		},
		{
			name: "custom event typo",
			src:  "events:\n  - {name: email_updated, table: public.users, on: updated, when_changed: [email]}\n" + sub("    subscriptions:\n      - event: email_update\n"),
			want: `walhook.yaml:8: subscribers[0].subscriptions[0].event: unknown event "email_update" for public.users; did you mean email_updated?`,
		},
		{
			name: "event of another table",
			src:  "events:\n  - {name: paid, table: public.orders}\n" + sub("    subscriptions:\n      - event: paid\n"),
			want: "walhook.yaml:8: subscribers[0].subscriptions[0].event: event paid is declared for public.orders, not public.users; declare it under events: with table: public.users",
		},
		{
			name: "subscription written as a bare event",
			src:  sub("    subscriptions:\n      - created\n"),
			want: `walhook.yaml:6: subscribers[0].subscriptions[0]: want a mapping, got "created"; write - event: created`,
		},
		{
			name: "event subscribed twice",
			src:  sub("    subscriptions:\n      - event: created\n      - event: created\n"),
			want: "walhook.yaml:7: subscribers[0].subscriptions[1].event: event created is already subscribed at line 6; keep one (use another subscriber for a second endpoint)",
		},
		{
			name: "custom event on truncated",
			src:  "events:\n  - name: wiped\n    table: public.users\n    on: truncated\n",
			want: `walhook.yaml:4: events[0].on: "truncated" is not allowed here; write one of created, updated or deleted`,
		},
		{
			name: "custom event named like a built-in",
			src:  "events:\n  - name: created\n    table: public.users\n",
			want: "walhook.yaml:2: events[0].name: created is a built-in event; choose another name for a custom event",
		},
		{
			name: "duplicate custom event",
			src:  "events:\n  - {name: paid, table: public.orders}\n  - {name: paid, table: public.orders}\n",
			want: "walhook.yaml:3: events[1].name: event paid is already declared for public.orders at line 2; rename one",
		},
		{
			name: "when_changed without on",
			src:  "events:\n  - name: paid\n    table: public.orders\n    when_changed: [status]\n",
			want: "walhook.yaml:4: events[0].when_changed: when_changed needs on: created, updated or deleted; an event without on is only born from SQL, walhook send or the API",
		},
		{
			name: "when_changed on created",
			src:  "events:\n  - name: paid\n    table: public.orders\n    on: created\n    when_changed: [status]\n",
			want: "walhook.yaml:5: events[0].when_changed: when_changed needs on: updated (only an update changes columns)",
		},
		{
			name: "changed_to on deleted",
			src:  "events:\n  - name: gone\n    table: public.orders\n    on: deleted\n    where: {status: {changed_to: paid}}\n",
			want: "walhook.yaml:5: events[0].where.status: changed_to needs on: updated (only an update has an old and a new value)",
		},
		{
			name: "old value on created",
			src:  "events:\n  - name: vip\n    table: public.users\n    on: created\n    where: {plan: {was: gold}}\n",
			want: "walhook.yaml:5: events[0].where.plan: was needs on: updated or deleted (a created row has no old value)",
		},
		{
			name: "header twice in different case",
			src:  sub("    headers: {X-Api-Key: a, x-api-key: b}\n"),
			want: "walhook.yaml:5: subscribers[0].headers.x-api-key: header x-api-key is also set as X-Api-Key (header names ignore case); keep one",
		},
		{
			name: "unknown where operator",
			src:  "events:\n  - name: paid\n    table: public.orders\n    on: updated\n    where:\n      status: {change_to: paid}\n",
			want: "walhook.yaml:6: events[0].where.status.change_to: unknown condition (did you mean changed_to?); write one of eq, ne, changed_to, changed_from, was, was_not, is_null or not_null",
		},
		{
			name: "where value is a list",
			src:  "events:\n  - name: paid\n    table: public.orders\n    on: updated\n    where: {status: [a, b]}\n",
			want: "walhook.yaml:5: events[0].where.status: want a value like paid or {changed_to: paid}, got a list",
		},
		{
			name: "unqualified table in tables",
			src:  "tables:\n  users:\n    fields: [id]\n",
			want: `walhook.yaml:2: tables.users: table name "users" is not schema-qualified; write public.users`,
		},
		{
			name: "unqualified subscriber table",
			src:  "subscribers:\n  - name: crm\n    table: users\n    target_url: https://crm.example.com/hook\n",
			want: `walhook.yaml:3: subscribers[0].table: table name "users" is not schema-qualified; write public.users`,
		},
		{
			name: "too many dots",
			src:  "events:\n  - {name: paid, table: db.public.orders}\n",
			want: `walhook.yaml:2: events[0].table: "db.public.orders" is not a table name; write schema.table, e.g. public.users`,
		},
		{
			name: "duplicate subscriber names",
			src:  sub("") + "  - name: crm\n    table: public.users\n    target_url: https://other.example.com/hook\n",
			want: `walhook.yaml:5: subscribers[1].name: subscriber "crm" is already declared at line 2; subscriber names must be unique`,
		},
		{
			name: "missing subscriber keys",
			src:  "subscribers:\n  - name: crm\n",
			want: "walhook.yaml:2: subscribers[0].table: missing; write the schema-qualified table, e.g. table: public.users\n" +
				"walhook.yaml:2: subscribers[0].target_url: missing; write where to send the webhooks, e.g. target_url: https://api.example.com/webhooks",
		},
		{
			name: "batch size above the ceiling",
			src:  sub("    batch_size: 80\n"),
			want: "walhook.yaml:5: subscribers[0].batch_size: 80 is above delivery.max_batch_size 50; lower it or raise delivery.max_batch_size",
		},
		{
			name: "empty source dsn",
			src:  "source:\n  dsn: \"\"\n",
			env:  map[string]string{"DATABASE_URL": ""},
			want: "walhook.yaml:2: source.dsn: is empty; set source.dsn or DATABASE_URL to the application's database, e.g. postgres://walhook@db/app",
		},
		{
			name: "projection given as a string",
			src:  "tables:\n  public.users:\n    fields: id, name\n",
			want: `walhook.yaml:3: tables.public.users.fields: fields must be a list of column names like [id, email] or a mapping like {id: id, contact: {email: email}}, got "id, name"`,
		},
		{
			name: "empty field name in a list",
			src:  "tables:\n  public.users:\n    fields: [id, \"\"]\n",
			want: "walhook.yaml:3: tables.public.users.fields[1]: column name is empty; write a column name",
		},
		{
			name: "empty column in a map",
			src:  "tables:\n  public.users:\n    fields: {id: id, mail: \"\"}\n",
			want: "walhook.yaml:3: tables.public.users.fields.mail: column name is empty; write a column name",
		},
		{
			name: "empty projection",
			src:  "tables:\n  public.users:\n    fields: []\n",
			want: "walhook.yaml:3: tables.public.users.fields: fields is empty; list at least one column, or remove fields to send every column",
		},
		{
			name: "column listed twice",
			src:  "tables:\n  public.users:\n    fields: [id, email, id]\n",
			want: "walhook.yaml:3: tables.public.users.fields[2]: column id is listed twice (first at line 3); keep one",
		},
		{
			name: "constant with extra keys",
			src:  "tables:\n  public.users:\n    fields: {id: id, plan: {const: pro, x: y}}\n",
			want: "walhook.yaml:3: tables.public.users.fields.plan: a constant is written {const: VALUE} with no other keys; move the other keys to their own field",
		},
		{
			name: "list inside a map projection",
			src:  "tables:\n  public.users:\n    fields: {id: id, tags: [a, b]}\n",
			want: "walhook.yaml:3: tables.public.users.fields.tags: want a column name, {const: VALUE} or a nested mapping, got a list",
		},
		{
			name: "reserved header",
			src:  sub("    headers: {Webhook-Signature: x}\n"),
			want: "walhook.yaml:5: subscribers[0].headers.Webhook-Signature: header Webhook-Signature is set by walhook; remove it",
		},
		{
			name: "bad network",
			src:  "delivery:\n  allow_networks: [10.0.0.0/8, intranet]\n",
			want: `walhook.yaml:2: delivery.allow_networks[1]: "intranet" is not a network; write a CIDR like 10.0.0.0/8 or fd00::/8`,
		},
		{
			name: "bad slot name",
			src:  "source:\n  slot: walhook-main\n",
			want: `walhook.yaml:2: source.slot: "walhook-main" is not a valid name; a replication slot name is 1 to 63 lower-case letters, digits or _`,
		},
		{
			name: "public admin without token",
			src:  "admin:\n  listen: 0.0.0.0:8089\n",
			want: "walhook.yaml:2: admin.listen: 0.0.0.0:8089 is not a loopback address, so the admin API needs a token; set admin.token (e.g. ${WALHOOK_ADMIN_TOKEN}) or listen on 127.0.0.1",
		},
		{
			name: "bad log level",
			src:  "log:\n  level: verbose\n",
			want: `walhook.yaml:2: log.level: "verbose" is not allowed here; write one of debug, info, warn or error`,
		},
		{
			name: "bad log payloads",
			src:  "logs:\n  payloads: failure\n",
			want: `walhook.yaml:2: logs.payloads: "failure" is not allowed here (did you mean failures?); write one of all or failures`,
		},
		{
			name: "unlogged not a boolean",
			src:  "logs:\n  unlogged: maybe\n",
			want: `walhook.yaml:2: logs.unlogged: want true or false, got "maybe"`,
		},
		{
			name: "unknown log component",
			src:  "log:\n  components: {delivr: debug}\n",
			want: "walhook.yaml:2: log.components.delivr: unknown component (did you mean deliver?); use one of cdc, router, deliver, store or admin",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := baseEnv()
			for k, v := range tt.env {
				env[k] = v
			}
			errs := parseErrors(t, tt.src, env)
			if got := errs.Error(); got != tt.want {
				t.Errorf("errors:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestParseReportsEveryProblem checks that one file with many mistakes gets
// all of them at once, sorted by line, against a golden file.
func TestParseReportsEveryProblem(t *testing.T) {
	t.Parallel()
	for _, path := range globFixtures(t, "bad/*.yaml") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = config.Parse(filepath.Base(path), data, envOf(map[string]string{}))
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse: got %v, want config.Errors", err)
			}
			checkGolden(t, strings.TrimSuffix(path, ".yaml")+".errors", errs.Error()+"\n")
			for i := 1; i < len(errs); i++ {
				if errs[i].Line < errs[i-1].Line {
					t.Errorf("errors not sorted by line: %d after %d", errs[i].Line, errs[i-1].Line)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "walhook.yaml")
	if err := os.WriteFile(path, []byte("source:\n  dsn: postgres://db/app\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.File != path || c.Source.DSN != "postgres://db/app" {
		t.Errorf("Load = %+v", c)
	}
	_, err = config.Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want os.ErrNotExist", err)
	}
}

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  config.Error
		want string
	}{
		{config.Error{File: "w.yaml", Line: 3, Key: "a.b", Msg: "bad"}, "w.yaml:3: a.b: bad"},
		{config.Error{File: "w.yaml", Key: "a.b", Msg: "bad"}, "w.yaml: a.b: bad"},
		{config.Error{File: "w.yaml", Line: 3, Msg: "bad"}, "w.yaml:3: bad"},
		{config.Error{Line: 3, Key: "k", Msg: "bad"}, "line 3: k: bad"},
		{config.Error{Msg: "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestParseErrorsUnwrap(t *testing.T) {
	t.Parallel()
	_, err := config.Parse("w.yaml", []byte("cache:\n  ttl: x\ndisabled: 3\n"), envOf(baseEnv()))
	var e *config.Error
	if !errors.As(err, &e) || e.Line != 2 || e.Column != 8 || e.Key != "cache.ttl" || e.File != "w.yaml" {
		t.Errorf("errors.As gave %+v from %v", e, err)
	}
}

func TestParseRefusesAliasBomb(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("x:\n  a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n")
	for i := 1; i < 9; i++ {
		p := "*a" + string(rune('0'+i-1))
		b.WriteString("  a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" + strings.Repeat(p+", ", 9) + p + "]\n")
	}
	b.WriteString("tables: {public.t: {fields: {k: {const: *a8}}}}\n")
	errs := parseErrors(t, b.String(), baseEnv())
	if !strings.Contains(errs.Error(), "expands to more than 200000 YAML nodes") {
		t.Errorf("got %v", errs)
	}
}
