package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// sessionCookie is the dashboard login cookie's name.
const sessionCookie = "walhook_admin"

// auth checks bearer tokens, login cookies and CSRF tokens. Without a token
// it only checks that requests are addressed to a loopback host.
type auth struct {
	token   []byte
	session string // cookie value: HMAC of a fixed label under the token
	csrf    string // per-process CSRF token for dashboard forms
}

func newAuth(token string) (*auth, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("generate CSRF token: %w", err)
	}
	a := &auth{token: []byte(token), csrf: hex.EncodeToString(b[:])}
	if token != "" {
		m := hmac.New(sha256.New, a.token)
		m.Write([]byte("walhook admin session v1"))
		a.session = hex.EncodeToString(m.Sum(nil))
	}
	return a, nil
}

// open reports whether no token is configured (loopback-only mode).
func (a *auth) open() bool { return len(a.token) == 0 }

// bearer reports whether r carries the right Authorization: Bearer token.
func (a *auth) bearer(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	got := []byte(strings.TrimSpace(h[len(prefix):]))
	return subtle.ConstantTimeCompare(got, a.token) == 1
}

// cookie reports whether r carries the login cookie.
func (a *auth) cookie(r *http.Request) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(a.session)) == 1
}

// checkToken compares a token typed into the login form.
func (a *auth) checkToken(t string) bool {
	return !a.open() && subtle.ConstantTimeCompare([]byte(t), a.token) == 1
}

// checkCSRF reports whether a dashboard form POST carries the CSRF token
// and, when the browser says where it comes from, comes from this origin.
func (a *auth) checkCSRF(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return errors.New("cross-site form submission refused")
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" && !sameHost(o, r.Host) {
		return fmt.Errorf("form submitted from origin %s, not from this dashboard", o)
	}
	got := r.PostFormValue("csrf")
	if subtle.ConstantTimeCompare([]byte(got), []byte(a.csrf)) != 1 {
		return errors.New("missing or stale CSRF token; reload the page and submit the form again")
	}
	return nil
}

// sameHost reports whether origin (scheme://host[:port]) names host.
func sameHost(origin, host string) bool {
	_, rest, ok := strings.Cut(origin, "://")
	return ok && strings.EqualFold(rest, host)
}

// errUnauthorized is the API's answer to a missing or wrong token.
var errUnauthorized = errors.New("missing or wrong admin token; send the header \"Authorization: Bearer <admin.token>\"")

// api guards the JSON API: the bearer token, or for GET and HEAD also the
// dashboard's login cookie (a POST with only a cookie is refused, so the
// API needs no CSRF token).
func (s *Server) apiAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := s.auth
		ok := a.open() || a.bearer(r) || (isSafe(r.Method) && a.cookie(r))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="walhook"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{Error: errUnauthorized.Error()})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// metricsAuth guards /metrics: the bearer token (or login cookie) when a
// token is set.
func (s *Server) metricsAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := s.auth
		if !a.open() && !a.bearer(r) && !a.cookie(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="walhook"`)
			http.Error(w, errUnauthorized.Error(), http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// dashAuth guards the dashboard: the login cookie or bearer token; a
// browser without either is sent to the login page.
func (s *Server) dashAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := s.auth
		if a.open() || a.cookie(r) || a.bearer(r) {
			next.ServeHTTP(w, r)
			return
		}
		if isSafe(r.Method) {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		http.Error(w, "not logged in: log in at /login with the admin token", http.StatusUnauthorized)
	})
}

// loopbackHost guards a token-less server against DNS rebinding: a
// request must name a loopback host (localhost, 127.0.0.1, [::1]).
func (s *Server) loopbackHost(next http.Handler) http.Handler {
	if !s.auth.open() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopbackHost(r.Host) {
			writeJSON(w, http.StatusForbidden, errorBody{Error: fmt.Sprintf(
				"host %q is not a loopback name and this admin server has no token; use http://127.0.0.1 or set admin.token", r.Host)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isSafe(method string) bool { return method == http.MethodGet || method == http.MethodHead }

// isLoopbackListen reports whether a host:port listen address only accepts
// connections from this machine.
func isLoopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	return err == nil && isLoopbackName(host)
}

// isLoopbackHost reports whether a Host header (host or host:port) names
// this machine.
func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return isLoopbackName(strings.Trim(host, "[]"))
}

func isLoopbackName(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
