package admin_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestSecretsNeverShown walks every read route, API and dashboard, and
// the action answers, and looks for the fixture secret or any long piece
// of it.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	o := fullOptions()
	o.Token = testToken
	h := newHandler(t, o)
	csrf := csrfToken(t, h, testToken)
	calls := []call{
		{path: "/api/v1/status"}, {path: "/api/v1/subscribers"}, {path: "/api/v1/subscribers/1"}, {path: "/api/v1/subscribers/2"},
		{path: "/api/v1/subscribers/3"}, {path: "/api/v1/logs"}, {path: "/api/v1/logs/42"}, {path: "/api/v1/logs/errors"},
		{method: "POST", path: "/api/v1/subscribers/2/activate"}, {method: "POST", path: "/api/v1/subscribers/2/reset-counters"},
		{method: "POST", path: "/api/v1/subscribers/2/test"},
		{path: "/"}, {path: "/subscribers"}, {path: "/subscribers/1"}, {path: "/subscribers/2"}, {path: "/logs"}, {path: "/logs/42"}, {path: "/errors"},
		{method: "POST", path: "/subscribers/2/test", form: true, body: url.Values{"csrf": {csrf}}.Encode()},
	}
	secret := strings.TrimPrefix(fakeSecret, "whsec_")
	for _, c := range calls {
		c.token = testToken
		w := c.do(t, h)
		if w.Code != 200 {
			t.Errorf("%s %s: status %d", c.method, c.path, w.Code)
		}
		body := w.Body.String()
		for i := 0; i+8 <= len(secret)-4; i++ { // any 8 characters but the last four
			if strings.Contains(body, secret[i:i+8]) {
				t.Fatalf("%s %s shows part of the secret (%q):\n%s", c.method, c.path, secret[i:i+8], body)
			}
		}
		if strings.Contains(body, testToken) {
			t.Fatalf("%s %s shows the admin token", c.method, c.path)
		}
	}
}
