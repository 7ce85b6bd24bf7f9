package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walhook/walhook/internal/pgtest"
)

// TestNetworkPolicyRefusesLoopbackEndToEnd runs walhook without
// allow_networks against a loopback receiver: no connection is ever made,
// the attempt is logged with the policy error, and the slot still advances
// (the event is parked, not holding the WAL).
func TestNetworkPolicyRefusesLoopbackEndToEnd(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	execSQL(t, dsn, `CREATE TABLE public.users (id bigint PRIMARY KEY, email text)`)
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	cfg := testConfig(t, `
source: {dsn: "${DSN}"}
subscribers:
  - name: local
    table: public.users
    target_url: ${URL}/hook
    secret: ${SECRET}
    max_retries: 0
    subscriptions: [{event: created}]
`, dsn, srv.URL)
	startPipeline(t, cfg)
	waitSlot(t, dsn, cfg.Source.Slot)
	execSQL(t, dsn, `INSERT INTO users VALUES (1, 'a@example.com')`)
	waitSettled(t, dsn, cfg.Source.Slot)

	var msg string
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := queryRow(t, dsn, `SELECT error_message FROM walhook.delivery_log WHERE error_message <> '' ORDER BY id LIMIT 1`, &msg)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no policy failure logged within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if want := "allow_networks"; !contains(msg, want) {
		t.Errorf("logged error %q does not tell how to allow the network (%q)", msg, want)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("receiver saw %d connections, want 0", n)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// queryRow scans one row, returning pgx.ErrNoRows when there is none.
func queryRow(t testing.TB, dsn, query string, dst ...any) error {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, query).Scan(dst...)
}
