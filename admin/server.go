package admin

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Options configure a Server. Every interface may be nil: its routes then
// answer 501 and its part of the status and dashboard stays empty.
type Options struct {
	// Listen is the host:port to serve on (admin.listen).
	Listen string
	// Token is the bearer token (admin.token). Empty is allowed only when
	// Listen is a loopback address.
	Token string

	Subscribers Subscribers
	Tester      Tester
	Logs        Logs
	Cache       Cache
	Control     Control
	Sender      Sender
	Retries     Retries
	Lag         Lag
	Health      Health

	// Gatherer is served at /metrics; nil answers 501.
	Gatherer prometheus.Gatherer
	// Registerer, when set, receives admin's own collectors
	// (walhook_admin_requests_total, walhook_admin_request_duration_seconds).
	Registerer prometheus.Registerer
	// Logger receives request failures; the zero Logger logs nothing.
	Logger zerolog.Logger
	// Version and StartedAt are shown in the status overview.
	Version   string
	StartedAt time.Time
	// ShutdownTimeout bounds graceful shutdown in Run (default 5s).
	ShutdownTimeout time.Duration
}

// minTokenLen is the token length below which New warns.
const minTokenLen = 16

// Server is the admin HTTP server. It is safe for concurrent use.
type Server struct {
	o       Options
	log     zerolog.Logger
	auth    *auth
	pages   map[string]*template.Template
	handler http.Handler
}

// New validates o and builds the server; it starts nothing. It refuses a
// non-loopback Listen without a Token.
func New(o Options) (*Server, error) {
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("create admin server: %w", err)
	}
	a, err := newAuth(o.Token)
	if err != nil {
		return nil, fmt.Errorf("create admin server: %w", err)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("create admin server: %w", err)
	}
	s := &Server{o: o, log: o.Logger, auth: a, pages: pages}
	s.handler = s.routes()
	if o.Registerer != nil {
		m, err := newRequestMetrics(o.Registerer)
		if err != nil {
			return nil, fmt.Errorf("create admin server: %w", err)
		}
		s.handler = m.instrument(s.handler)
	}
	if o.Token != "" && len(o.Token) < minTokenLen {
		s.log.Warn().Int("length", len(o.Token)).Msg("admin token is short; use at least 32 random characters (openssl rand -hex 32)")
	}
	return s, nil
}

// check validates the listen address against the token and fills in
// defaults.
func (o *Options) check() error {
	o.Token = strings.TrimSpace(o.Token)
	if o.Listen == "" {
		return errors.New("listen address is empty; set admin.listen, e.g. 127.0.0.1:8089")
	}
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		return fmt.Errorf("admin.listen %q is not host:port; write an address like 127.0.0.1:8089: %w", o.Listen, err)
	}
	if o.Token == "" && !isLoopbackListen(o.Listen) {
		return fmt.Errorf("%s is not a loopback address, so the admin API needs a token; set admin.token (e.g. ${WALHOOK_ADMIN_TOKEN}) or listen on 127.0.0.1", o.Listen)
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 5 * time.Second
	}
	return nil
}

// Handler returns the server's HTTP handler (all routes, with auth).
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on Options.Listen and serves until ctx ends, then shuts down
// gracefully, waiting at most Options.ShutdownTimeout for requests in
// flight. It returns nil after a shutdown caused by ctx, or the listen or
// serve error.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.o.Listen)
	if err != nil {
		return fmt.Errorf("listen for admin on %s: %w", s.o.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener, which it closes.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// Requests keep ctx's values but not its cancellation, so that
		// shutdown lets requests in flight finish.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve admin on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		<-errc
		return fmt.Errorf("shut down admin server: %w", err)
	}
	<-errc
	return nil
}
