package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// secret signs every request (Standard Webhooks), as walhook does, so the
// receiver does the same work for the baselines as for walhook.
const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var secretKey, _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))

// sink is a `walhook bench-receiver` process: the receiver walhook bench
// uses, so that baselines and walhook post to the same thing.
type sink struct {
	URL  string
	cmd  *exec.Cmd
	in   io.WriteCloser
	http *http.Client
}

func startSink(walhook string) (*sink, error) {
	cmd := exec.Command(walhook, "bench-receiver", "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "WALHOOK_BENCH_SECRET="+secret)
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s bench-receiver: %w", walhook, err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		in.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s bench-receiver printed no URL", walhook)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return &sink{URL: strings.TrimSpace(sc.Text()), cmd: cmd, in: in, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

func (s *sink) Close() {
	s.in.Close()
	_ = s.cmd.Wait()
}

func (s *sink) get(path string) ([]byte, error) {
	resp, err := s.http.Get(s.URL + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func (s *sink) reset() error {
	resp, err := s.http.Post(s.URL+"/_bench/reset", "", nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func (s *sink) count() (int64, error) {
	b, err := s.get("/_bench/count")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// stats is the part of the receiver's statistics the baselines use.
type stats struct {
	Unique      int64     `json:"unique"`
	LastAt      time.Time `json:"last_at"`
	LatenciesUS []int64   `json:"latencies_us"`
}

func (s *sink) stats() (stats, error) {
	var st stats
	b, err := s.get("/_bench/stats?latencies=1")
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

// waitFor polls until n distinct events arrived, or timeout.
func (s *sink) waitFor(n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, err := s.count()
		if err != nil {
			return err
		}
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d events arrived within %v", got, n, timeout)
		}
		time.Sleep(10 * time.Millisecond) // polling an external process
	}
}

// poster signs and posts bodies to one URL, reusing its HMAC from one
// request to the next; one per goroutine.
type poster struct {
	c   httpDoer
	url string
	mac hash.Hash
	sig []byte
}

func newPoster(c httpDoer, url string) *poster {
	return &poster{c: c, url: url, mac: hmac.New(sha256.New, secretKey)}
}

// post signs and posts body with webhook-id id, drains and closes the
// response (so the connection is reused) and reports whether the
// receiver answered 2xx.
func (p *poster) post(ctx context.Context, id string, body []byte) error {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	p.mac.Reset()
	p.mac.Write([]byte(id + "." + ts + "."))
	p.mac.Write(body)
	p.sig = append(p.sig[:0], "v1,"...)
	p.sig = base64.StdEncoding.AppendEncode(p.sig, p.mac.Sum(nil))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = http.Header{
		"Content-Type":      {"application/json"},
		"Webhook-Id":        {id},
		"Webhook-Timestamp": {ts},
		"Webhook-Signature": {string(p.sig)},
	}
	resp, err := p.c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
}

// keepAlive is an HTTP/1.1 client that keeps up to n connections open to
// the receiver: no compression negotiated, no per-request timer (a
// response header timeout instead), as a tuned webhook sender would.
func keepAlive(n int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = n, n, n
	tr.DisableCompression = true
	tr.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: tr}
}

// percentileMS returns the p-th percentile of µs values in ms.
func percentileMS(us []int64, p float64) float64 {
	if len(us) == 0 {
		return 0
	}
	slices.Sort(us)
	i := int(float64(len(us))*p/100+0.999999) - 1
	return float64(us[min(max(i, 0), len(us)-1)]) / 1000
}

// httpDoer is what post needs of an HTTP client.
type httpDoer interface {
	Do(*http.Request) (*http.Response, error)
}
