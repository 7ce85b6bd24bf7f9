package router

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestResolveEndpoint(t *testing.T) {
	t.Parallel()
	cases := []struct {
		target, custom, want string
	}{
		{"https://api.example.com/webhooks", "", "https://api.example.com/webhooks"},
		{"https://api.example.com/webhooks", "/users/updated", "https://api.example.com/webhooks/users/updated"},
		{"https://api.example.com/webhooks/", "users/updated", "https://api.example.com/webhooks/users/updated"},
		{"https://api.example.com", "/users", "https://api.example.com/users"},
		{"https://api.example.com/hooks?token=x", "/users", "https://api.example.com/hooks/users?token=x"},
		{"https://api.example.com/hooks?token=x", "/users?token=y", "https://api.example.com/hooks/users?token=y"},
		{"https://api.example.com/webhooks", "https://other.example.com/in", "https://other.example.com/in"},
		{"https://api.example.com/webhooks", "/users/", "https://api.example.com/webhooks/users/"},
	}
	for _, tc := range cases {
		got, err := ResolveEndpoint(tc.target, tc.custom)
		if err != nil || got != tc.want {
			t.Errorf("ResolveEndpoint(%q, %q) = %q, %v; want %q", tc.target, tc.custom, got, err, tc.want)
		}
	}
	for _, bad := range [][2]string{{"https://a.example.com", "//other.example.com/x"}, {"https://a.example.com", "http://[::1"}, {"::", "/x"}} {
		if _, err := ResolveEndpoint(bad[0], bad[1]); err == nil {
			t.Errorf("ResolveEndpoint(%q, %q) succeeded, want an error", bad[0], bad[1])
		}
	}
}

func TestStaticSource(t *testing.T) {
	t.Parallel()
	cfg := mustConfig(t, `
source:
  dsn: postgres://localhost/app
defaults:
  timeout: 7s
  retry_delay: 9s
subscribers:
  - name: crm
    table: public.users
    target_url: https://api.example.com/webhooks
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
    headers: {X-Api-Key: abc}
    max_retries: 5
    batch_size: 10
    subscriptions:
      - event: created
      - event: updated
        custom_endpoint: /users/updated
        is_active: false
  - name: off
    table: public.users
    target_url: https://off.example.com/
    is_active: false
    timeout: 3s
    subscriptions: [{event: created}]
`)
	src, err := StaticSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	created, _ := src.Lookup(context.Background(), "public.users", "created")
	if len(created) != 2 {
		t.Fatalf("created: %d subscriptions, want 2", len(created))
	}
	crm, off := created[0], created[1]
	e := crm.Endpoint
	if crm.Key != "crm/created" || !crm.Active || e.URL != "https://api.example.com/webhooks" || e.Subscriber != "crm" ||
		e.MaxRetries != 5 || e.BatchSize != 10 || e.Timeout != 7*time.Second || e.RetryDelay != 9*time.Second ||
		len(e.Secrets) != 1 || e.Headers["X-Api-Key"] != "abc" {
		t.Errorf("crm/created = %+v, endpoint %+v", crm, e)
	}
	if off.Active || off.Endpoint.Timeout != 3*time.Second {
		t.Errorf("inactive subscriber: Active %v timeout %s", off.Active, off.Endpoint.Timeout)
	}
	updated, _ := src.Lookup(context.Background(), "public.users", "updated")
	if len(updated) != 1 || updated[0].Active || updated[0].Endpoint.URL != "https://api.example.com/webhooks/users/updated" {
		t.Errorf("updated = %+v", updated[0])
	}
	if len(src.All()) != 3 {
		t.Errorf("All: %d subscriptions, want 3", len(src.All()))
	}
	if subs, _ := src.Lookup(context.Background(), "public.orders", "created"); len(subs) != 0 {
		t.Errorf("lookup of another table: %d subscriptions", len(subs))
	}
}

func TestStaticSourceBadProjection(t *testing.T) {
	t.Parallel()
	cfg := mustConfig(t, minimalYAML)
	cfg.Subscribers = append(cfg.Subscribers, mustConfig(t, `
source:
  dsn: postgres://localhost/app
subscribers:
  - name: crm
    table: public.users
    target_url: https://api.example.com/webhooks
    subscriptions: [{event: created}]
`).Subscribers...)
	cfg.Subscribers[0].Fields = list("id", "id")
	_, err := StaticSource(cfg)
	if err == nil || !strings.Contains(err.Error(), `subscriber "crm"`) || !strings.Contains(err.Error(), "appears twice") {
		t.Fatalf("got %v, want an error naming the subscriber and the duplicate", err)
	}
}
