package deliver

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults of ClientOptions.
const (
	DefaultMaxResponseBytes = 64 << 10
	DefaultTimeout          = 30 * time.Second
	// drainBytes bounds how much of a response beyond MaxResponseBytes is
	// read and discarded so the connection can be reused; a longer body
	// closes the connection instead.
	drainBytes = 256 << 10
)

// ClientOptions configure a Client. Zero values take the defaults.
type ClientOptions struct {
	// AllowNetworks are CIDRs allowed although loopback, private,
	// link-local, … (delivery.allow_networks).
	AllowNetworks []string
	// MaxResponseBytes caps the response body read and kept
	// (DefaultMaxResponseBytes).
	MaxResponseBytes int
	// MaxConnsPerHost sizes the idle keep-alive pool per host; set it to
	// the per-endpoint concurrency (default 16).
	MaxConnsPerHost int
	// MaxIdleConns bounds idle connections across hosts (default 64).
	MaxIdleConns int
	// UseEnvProxy sends requests through HTTP_PROXY/HTTPS_PROXY. The
	// network policy then judges the proxy's address, not the target's.
	UseEnvProxy bool
	// Version is sent as User-Agent: walhook/<Version> ("dev").
	Version string
	// DefaultTimeout bounds an attempt whose Endpoint has no Timeout
	// (DefaultTimeout).
	DefaultTimeout time.Duration
}

// Client sends webhooks over one shared keep-alive HTTP/1.1 transport,
// signs them, applies the network policy, never follows redirects and caps
// what it reads. It is safe for concurrent use.
type Client struct {
	http      *http.Client
	transport *http.Transport
	policy    *Policy
	maxBody   int64
	userAgent string
	timeout   time.Duration
	keys      keyCache
}

// NewClient builds a Client. It fails only on a bad AllowNetworks entry.
func NewClient(o ClientOptions) (*Client, error) {
	policy, err := NewPolicy(o.AllowNetworks)
	if err != nil {
		return nil, err
	}
	o = o.withDefaults()
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: policy.control}
	tr := &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConns:        o.MaxIdleConns,
		MaxIdleConnsPerHost: o.MaxConnsPerHost,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DisableCompression:  true,
		// A non-nil empty map keeps the transport on HTTP/1.1.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	if o.UseEnvProxy {
		tr.Proxy = http.ProxyFromEnvironment
	}
	return &Client{
		http: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		transport: tr,
		policy:    policy,
		maxBody:   int64(o.MaxResponseBytes),
		userAgent: "walhook/" + o.Version,
		timeout:   o.DefaultTimeout,
	}, nil
}

func (o ClientOptions) withDefaults() ClientOptions {
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.MaxConnsPerHost <= 0 {
		o.MaxConnsPerHost = 16
	}
	if o.MaxIdleConns <= 0 {
		o.MaxIdleConns = 64
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.DefaultTimeout <= 0 {
		o.DefaultTimeout = DefaultTimeout
	}
	return o
}

// Policy returns the client's network policy.
func (c *Client) Policy() *Policy { return c.policy }

// CloseIdleConnections closes idle keep-alive connections.
func (c *Client) CloseIdleConnections() { c.transport.CloseIdleConnections() }

// Send makes one HTTP attempt carrying events, which must share one
// Endpoint (the first event's is used): a single event's Body is the
// request body, several go as one batch (see BatchBody). It returns one
// Attempt per event, in order, all with the same outcome and Number 1
// (callers that retry set Number). The attempt is bounded by the
// Endpoint's Timeout and by ctx. Send never panics on a bad endpoint: a
// malformed URL or secret is a Permanent failure.
func (c *Client) Send(ctx context.Context, events []*Event) []Attempt {
	start := time.Now()
	res := c.do(ctx, events, start)
	res.Duration = time.Since(start)
	res.At = start
	res.Number = 1
	out := make([]Attempt, len(events))
	for i, ev := range events {
		out[i] = res
		out[i].Event = ev
	}
	return out
}

// do performs the request and returns the shared outcome.
func (c *Client) do(ctx context.Context, events []*Event, now time.Time) Attempt {
	if len(events) == 0 || events[0].Endpoint == nil {
		return Attempt{Error: "send: no event or no endpoint", Permanent: true}
	}
	timeout := events[0].Endpoint.Timeout
	if timeout <= 0 {
		timeout = c.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := c.request(ctx, events, now)
	if err != nil {
		return Attempt{Error: err.Error(), Permanent: true}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		msg, permanent := classify(err)
		return Attempt{Error: msg, Permanent: permanent}
	}
	return c.read(resp, now)
}

// request builds the signed POST for events.
func (c *Client) request(ctx context.Context, events []*Event, now time.Time) (*http.Request, error) {
	ep := events[0].Endpoint
	id, body := events[0].ID, events[0].Body
	if len(events) > 1 {
		id = BatchID(events)
		body = batchBody(id, events)
	}
	ts := now.Unix()
	sig, err := c.keys.signature(ep.Secrets, id, ts, body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: invalid target URL: %w", unwrapURL(err))
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("build request: target URL scheme %q is not http or https", req.URL.Scheme)
	}
	if err := checkHeaders(ep.Headers); err != nil {
		return nil, err
	}
	c.setHeaders(req.Header, ep, id, ts, sig)
	return req, nil
}

// checkHeaders refuses subscriber headers net/http would refuse to send,
// naming the header but never showing its value (it may be a credential).
func checkHeaders(h map[string]string) error {
	for k, v := range h {
		if k == "" || strings.IndexFunc(k, notTokenRune) >= 0 {
			return fmt.Errorf("build request: header name %q is not a valid HTTP token", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("build request: value of header %q contains a line break or NUL", k)
		}
	}
	return nil
}

// notTokenRune reports whether r may not appear in an HTTP header name.
func notTokenRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	}
	return !strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}

// setHeaders sets the subscriber's headers first, then the ones it may
// not override: Content-Type and the webhook-* headers.
func (c *Client) setHeaders(h http.Header, ep *Endpoint, id string, ts int64, sig string) {
	for k, v := range ep.Headers {
		h.Set(k, v)
	}
	// One backing array for all values: one allocation, not five.
	v := [...]string{c.userAgent, "application/json", id, strconv.FormatInt(ts, 10), sig}
	vals := v[:]
	if h.Get("User-Agent") == "" {
		h["User-Agent"] = vals[0:1:1]
	}
	h["Content-Type"] = vals[1:2:2]
	h[HeaderID] = vals[2:3:3]
	h[HeaderTimestamp] = vals[3:4:4]
	if sig != "" {
		h[HeaderSignature] = vals[4:5:5]
	} else {
		delete(h, HeaderSignature)
	}
}

// read captures the status, Retry-After and the start of the body, drains
// a bounded remainder for connection reuse and closes the body.
func (c *Client) read(resp *http.Response, now time.Time) Attempt {
	defer resp.Body.Close()
	a := Attempt{Status: resp.StatusCode}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody))
	a.ResponseBody = strings.ToValidUTF8(string(body), string(utf8.RuneError))
	if err == nil {
		_, _ = io.CopyN(io.Discard, resp.Body, drainBytes)
	}
	switch {
	case a.Success():
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.Error = fmt.Sprintf("redirect not followed (http %d)", resp.StatusCode)
	default:
		a.Error = "http " + strconv.Itoa(resp.StatusCode)
	}
	if !a.Success() {
		a.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return a
}
