// Package admin serves walhook's operator surface: the JSON API under
// /api/v1, an embedded server-rendered dashboard at /, Prometheus metrics at
// /metrics, and the probes /healthz and /readyz.
//
// admin owns no state. It consumes the small interfaces declared in
// interfaces.go (Subscribers, Tester, Logs, Cache, Control, Sender, Retries,
// Lag, Health) and speaks in its own plain structs (types.go); cmd/walhook
// adapts store, router and deliver to them. An interface left nil in Options
// makes its routes answer 501 with a JSON error that says which part is not
// wired.
//
// Security (DESIGN.md invariant 6): when Options.Token is set, every /api/
// route, every dashboard page and /metrics require it, as
// "Authorization: Bearer <token>" or through the dashboard's login cookie
// (HttpOnly, SameSite=Strict). Without a token the server must listen on
// loopback only: New refuses anything else, and requests whose Host header
// is not a loopback name are refused (DNS-rebinding defence). Dashboard forms
// carry a per-process CSRF token. Subscriber secrets never leave walhook:
// Subscriber carries only a SecretHint such as "whsec_…Xy9Q".
package admin
