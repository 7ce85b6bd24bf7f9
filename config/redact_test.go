package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/walhook/walhook/config"
)

func TestRedacted(t *testing.T) {
	t.Parallel()
	src := `
source:
  dsn: postgres://walhook:s3cr3t-pw@db:5432/app?sslmode=require
state:
  dsn: host=state user=walhook password='p w d' dbname=walhook
admin:
  token: adm1n-t0ken-value
subscribers:
  - name: crm
    table: public.users
    target_url: https://user:hunter2@crm.example.com/hook?token=tk-999&x=1
    secrets: [` + testSecret + `, whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA]
    headers: {X-Api-Key: api-key-value}
    subscriptions: [{event: created}]
`
	c := mustParse(t, src, baseEnv())
	r := c.Redacted()
	shown := fmt.Sprintf("%+v", *r) + fmt.Sprintf("%+v", r.Subscribers)
	for _, secret := range []string{"s3cr3t-pw", "p w d", "adm1n-t0ken-value", "hunter2", "tk-999", "api-key-value", testSecret, "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if strings.Contains(shown, secret) {
			t.Errorf("Redacted shows %q:\n%s", secret, shown)
		}
	}
	want := map[string]string{
		"source":   "postgres://walhook:%2A%2A%2A@db:5432/app?sslmode=require",
		"state":    "host=state user=walhook password=*** dbname=walhook",
		"token":    "***",
		"target":   "https://user:%2A%2A%2A@crm.example.com/hook?token=%2A%2A%2A&x=1",
		"secret0":  "whsec_…LaSw",
		"header":   "***",
		"endpoint": "https://user:%2A%2A%2A@crm.example.com/hook?token=%2A%2A%2A&x=1",
	}
	s := r.Subscribers[0]
	got := map[string]string{
		"source": r.Source.DSN, "state": r.State.DSN, "token": r.Admin.Token, "target": s.TargetURL,
		"secret0": s.Secrets[0], "header": s.Headers["X-Api-Key"], "endpoint": s.Subscriptions[0].URL,
	}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("%s = %q, want %q", k, got[k], want[k])
		}
	}
	if c.Subscribers[0].Secrets[0] != testSecret || c.Subscribers[0].Headers["X-Api-Key"] != "api-key-value" || c.Admin.Token == "***" {
		t.Error("Redacted modified the original")
	}
}

func TestRedactDSN(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"postgres://u@db/app", "postgres://u@db/app"},
		{"postgres://u:p@db/app", "postgres://u:%2A%2A%2A@db/app"},
		{"postgres://db/app?password=p&sslmode=disable", "postgres://db/app?password=%2A%2A%2A&sslmode=disable"},
		{"host=db password=p", "host=db password=***"},
		{"host=db PASSWORD = 'a b\\' c' user=u", "host=db PASSWORD = *** user=u"},
		{"postgres://u:p%zz@db/app", "postgres://u:***@db/app"},
	}
	for _, tt := range tests {
		if got := config.RedactDSN(tt.in); got != tt.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactSecret(t *testing.T) {
	t.Parallel()
	if got := config.RedactSecret(testSecret); got != "whsec_…LaSw" {
		t.Errorf("RedactSecret = %q", got)
	}
	if got := config.RedactSecret("whsec_short"); got != "***" {
		t.Errorf("short secret = %q", got)
	}
}
