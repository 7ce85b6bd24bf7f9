package admin

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// apiFunc handles one API route: it returns the value to answer with 200, or
// an error that writeError maps to a status.
type apiFunc func(r *http.Request) (any, error)

// maxBody caps request bodies.
const maxBody = 1 << 20

// routes builds the whole handler: probes, metrics, API, login, dashboard.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.loopbackHost(s.metricsAuth(s.metrics())))
	mux.Handle("/api/", s.loopbackHost(s.apiAuth(s.apiRoutes())))
	mux.Handle("GET /login", s.loopbackHost(http.HandlerFunc(s.loginPage)))
	mux.Handle("POST /login", s.loopbackHost(http.HandlerFunc(s.login)))
	mux.Handle("POST /logout", s.loopbackHost(http.HandlerFunc(s.logout)))
	mux.Handle("/", s.loopbackHost(s.dashAuth(s.dashboardRoutes())))
	return securityHeaders(mux)
}

// apiRoutes is the /api/v1 mux; unknown routes get JSON 404 or 405.
func (s *Server) apiRoutes() http.Handler {
	mux := http.NewServeMux()
	add := func(pattern string, f apiFunc) { mux.Handle(pattern, s.api(f)) }
	s.subscriberRoutes(add)
	s.logRoutes(add)
	s.cacheRoutes(add)
	s.controlRoutes(add)
	s.sendRoutes(add)
	s.retryRoutes(add)
	add("GET /api/v1/status", s.apiStatus)
	return jsonFallback(mux)
}

// api adapts an apiFunc: it caps the body, writes the value or the error.
func (s *Server) api(f apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		v, err := f(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// jsonFallback answers requests no API route matches with a JSON 404, or
// 405 with the Allow header when the path exists for other methods.
func jsonFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r) // sets the path values h needs
			return
		}
		probe := &statusProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.code == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			writeJSON(w, probe.code, errorBody{Error: r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + probe.header.Get("Allow")})
			return
		}
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no API route " + r.Method + " " + r.URL.Path + "; see docs/admin.md for the routes under /api/v1"})
	})
}

// statusProbe records the status and headers a handler writes and drops
// its body.
type statusProbe struct {
	header http.Header
	code   int
}

func (p *statusProbe) Header() http.Header { return p.header }
func (p *statusProbe) WriteHeader(code int) {
	if p.code == 0 {
		p.code = code
	}
}
func (p *statusProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}

// securityHeaders forbids framing, sniffing, referrers and any script or
// external resource on every response.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		}
		next.ServeHTTP(w, r)
	})
}

// metrics serves Options.Gatherer in the Prometheus text format.
func (s *Server) metrics() http.Handler {
	if s.o.Gatherer == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.writeError(w, r, notWired("Metrics"))
		})
	}
	return promhttp.HandlerFor(s.o.Gatherer, promhttp.HandlerOpts{})
}
