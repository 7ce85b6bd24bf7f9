package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgtest"
)

// TestConditionalEvents fires when_changed, ignore_changed and where
// (changed_to) events from real updates, exactly when their conditions hold.
func TestConditionalEvents(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, `
CREATE TABLE public.users (id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL, last_seen int);
ALTER TABLE public.users REPLICA IDENTITY FULL;
CREATE TABLE public.orders (id bigint PRIMARY KEY, status text NOT NULL, total int);
ALTER TABLE public.orders REPLICA IDENTITY FULL;
`)
	s := newSink(t)
	cfg := testConfig(t, `
source: {dsn: "${DSN}"}
delivery: {allow_networks: [127.0.0.0/8]}
tables:
  public.users: {fields: [id, name, email]}
events:
  - {name: email_updated, table: public.users, on: updated, when_changed: [email]}
  - {name: profile_updated, table: public.users, on: updated, ignore_changed: [last_seen]}
  - name: order_paid
    table: public.orders
    on: updated
    where:
      status: {changed_to: paid}
  - name: big_order
    table: public.orders
    on: created
    where:
      total: {eq: 1000}
subscribers:
  - name: users
    table: public.users
    target_url: ${URL}/users
    secret: ${SECRET}
    subscriptions: [{event: email_updated}, {event: profile_updated}, {event: created}]
  - name: orders
    table: public.orders
    target_url: ${URL}/orders
    secret: ${SECRET}
    fields: [id, status]
    subscriptions: [{event: order_paid}, {event: big_order}]
`, dsn, s.srv.URL)
	startPipeline(t, cfg)
	waitSlot(t, dsn, cfg.Source.Slot)

	execSQL(t, dsn,
		`INSERT INTO users VALUES (1, 'Ada', 'ada@example.com', 0)`,
		`UPDATE users SET email = 'ada@new.example.com' WHERE id = 1`,      // email_updated + profile_updated
		`UPDATE users SET name = 'Ada L.' WHERE id = 1`,                    // profile_updated only
		`UPDATE users SET last_seen = 5 WHERE id = 1`,                      // nothing
		`UPDATE users SET last_seen = 5 WHERE id = 1`,                      // nothing changed: nothing
		`INSERT INTO orders VALUES (10, 'pending', 1), (11, 'paid', 1000)`, // big_order for 11
		`UPDATE orders SET status = 'paid' WHERE id = 10`,                  // order_paid
		`UPDATE orders SET total = 2 WHERE id = 10`,                        // paid -> paid: nothing
		`UPDATE orders SET status = 'refunded' WHERE id = 11`,              // nothing
		`INSERT INTO users VALUES (2, 'Marker', 'm@example.com', 0)`,       // created (marker)
	)
	expectExactly(t, s, dsn, cfg.Source.Slot,
		`/users {"event":"created","table":"public.users","data":{"id":1,"name":"Ada","email":"ada@example.com"}}`,
		`/users {"event":"email_updated","table":"public.users","data":{"id":1,"name":"Ada","email":"ada@new.example.com"},"previous":{"id":1,"name":"Ada","email":"ada@example.com"},"changed":["email"]}`,
		`/users {"event":"profile_updated","table":"public.users","data":{"id":1,"name":"Ada","email":"ada@new.example.com"},"previous":{"id":1,"name":"Ada","email":"ada@example.com"},"changed":["email"]}`,
		`/users {"event":"profile_updated","table":"public.users","data":{"id":1,"name":"Ada L.","email":"ada@new.example.com"},"previous":{"id":1,"name":"Ada","email":"ada@new.example.com"},"changed":["name"]}`,
		`/orders {"event":"big_order","table":"public.orders","data":{"id":11,"status":"paid"}}`,
		`/orders {"event":"order_paid","table":"public.orders","data":{"id":10,"status":"paid"},"previous":{"id":10,"status":"pending"},"changed":["status"]}`,
		`/users {"event":"created","table":"public.users","data":{"id":2,"name":"Marker","email":"m@example.com"}}`,
	)
}

// oldValuesYAML declares an event that needs old values on a table that
// lacks REPLICA IDENTITY FULL.
const oldValuesYAML = `
source: {dsn: "${DSN}"}
delivery: {allow_networks: [127.0.0.0/8]}
events:
  - name: order_paid
    table: public.orders
    on: updated
    where:
      status: {changed_to: paid}
subscribers:
  - name: orders
    table: public.orders
    target_url: ${URL}/orders
    secret: ${SECRET}
    subscriptions: [{event: order_paid}]
`

// TestConditionOnOldValuesNeedsReplicaIdentityFull checks that validate and
// run refuse a condition on old values of a table without REPLICA IDENTITY
// FULL, naming the table and the fix, and accept it once the table has it.
func TestConditionOnOldValuesNeedsReplicaIdentityFull(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, `CREATE TABLE public.orders (id bigint PRIMARY KEY, status text NOT NULL)`)
	s := newSink(t)
	yaml := strings.NewReplacer("${DSN}", dsn, "${URL}", s.srv.URL, "${SECRET}", testSecret).Replace(oldValuesYAML)
	path := writeFile(t, "walhook.yaml", yaml)

	code, stdout, stderr := runCLI(t, "validate", "--config", path)
	if code != exitUsage {
		t.Fatalf("validate: exit %d, want %d\nstdout: %s\nstderr: %s", code, exitUsage, stdout, stderr)
	}
	mustContain(t, stderr, "public.orders", "order_paid", "ALTER TABLE public.orders REPLICA IDENTITY FULL")

	cfg := testConfig(t, oldValuesYAML, dsn, s.srv.URL)
	g := &globalFlags{logLevel: "error", logFormat: "console"}
	lg, err := g.newLogging(testWriter{t})
	fatalIf(t, err, "logging")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = runPipeline(ctx, cfg, lg)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("run: %v, want a refusal at start-up", err)
	}
	mustContain(t, err.Error(), "public.orders", "order_paid", "REPLICA IDENTITY FULL")
	if slotFlush(t, dsn, cfg.Source.Slot) != "" {
		t.Errorf("run created slot %s although it refused to start", cfg.Source.Slot)
	}

	execSQL(t, dsn, `ALTER TABLE public.orders REPLICA IDENTITY FULL`)
	if code, stdout, stderr := runCLI(t, "validate", "--config", path); code != exitOK {
		t.Fatalf("validate after the fix: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

// TestValidateOldValueConditions runs walhook validate on events of a table
// without REPLICA IDENTITY FULL: those that read old values are refused
// with the fix, those that read only new values are accepted.
func TestValidateOldValueConditions(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, `CREATE TABLE public.orders (id bigint PRIMARY KEY, status text NOT NULL)`)
	for _, tc := range []struct {
		name  string
		event string
		ok    bool
	}{
		{"when_changed", `{name: e, table: public.orders, on: updated, when_changed: [status]}`, false},
		{"ignore_changed", `{name: e, table: public.orders, on: updated, ignore_changed: [status]}`, false},
		{"changed_to", `{name: e, table: public.orders, on: updated, where: {status: {changed_to: paid}}}`, false},
		{"changed_from", `{name: e, table: public.orders, on: updated, where: {status: {changed_from: new}}}`, false},
		{"was", `{name: e, table: public.orders, on: updated, where: {status: {was: new}}}`, false},
		{"deleted where", `{name: e, table: public.orders, on: deleted, where: {status: paid}}`, false},
		{"updated eq", `{name: e, table: public.orders, on: updated, where: {status: paid}}`, true},
		{"created eq", `{name: e, table: public.orders, on: created, where: {status: paid}}`, true},
		{"custom", `{name: e, table: public.orders}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "walhook.yaml", `
source: {dsn: "`+dsn+`"}
events:
  - `+tc.event+`
subscribers:
  - name: orders
    table: public.orders
    target_url: https://example.com/hook
    subscriptions: [{event: e}]
`)
			code, stdout, stderr := runCLI(t, "validate", "--config", path)
			if tc.ok {
				if code != exitOK {
					t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
				}
				return
			}
			if code != exitUsage {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, exitUsage, stdout, stderr)
			}
			mustContain(t, stderr, "public.orders", "ALTER TABLE public.orders REPLICA IDENTITY FULL")
		})
	}
}
