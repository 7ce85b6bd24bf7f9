package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

func init() { commands = append(commands, newBenchReceiverCmd) }

// benchSecretEnv passes the signing secret to a receiver process, so that
// it does not show in the process list.
const benchSecretEnv = "WALHOOK_BENCH_SECRET"

// newBenchReceiverCmd is the hidden `walhook bench-receiver`: the receiver
// of `walhook bench` in a process of its own, so that the CPU time and
// memory that bench reports are walhook's alone. It prints its URL on the
// first line of stdout and serves until stdin closes or it is signalled.
func newBenchReceiverCmd(_ *globalFlags) *cobra.Command {
	var listen string
	var failRate float64
	c := &cobra.Command{
		Use:    "bench-receiver",
		Short:  "Serve the receiver of 'walhook bench' (used by bench itself)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			go func() { // the parent closes stdin (or dies): stop
				_, _ = io.Copy(io.Discard, os.Stdin)
				cancel()
			}()
			var secrets []string
			if s := os.Getenv(benchSecretEnv); s != "" {
				secrets = []string{s}
			}
			return serveBenchReceiver(ctx, listen, newBenchReceiver(secrets, failRate), func(url string) {
				fmt.Println(url)
			})
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address to listen on (loopback)")
	c.Flags().Float64Var(&failRate, "fail-rate", 0, "share of requests to answer 503, 0 to 1")
	return c
}

// serveBenchReceiver serves rc on addr until ctx ends, calling ready with
// its URL once it listens.
func serveBenchReceiver(ctx context.Context, addr string, rc *benchReceiver, ready func(url string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for the bench receiver on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("bench receiver: %w", err)
		}
		return nil
	})
	eg.Go(func() error { return rc.Run(ctx) })
	eg.Go(func() error {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shut)
	})
	ready("http://" + ln.Addr().String())
	return eg.Wait()
}

// benchSink talks to a bench receiver over HTTP, wherever it runs.
type benchSink struct {
	URL    string
	client *http.Client
	stop   func() error
}

// startBenchSink starts a receiver: in a process of its own (the walhook
// executable's hidden bench-receiver command) when inProcess is false,
// else in this process. Stop it with Close.
func startBenchSink(ctx context.Context, secret string, failRate float64, inProcess bool) (*benchSink, error) {
	s := &benchSink{client: &http.Client{Timeout: 30 * time.Second}}
	if inProcess {
		return s, s.startInProcess(ctx, secret, failRate)
	}
	return s, s.startProcess(ctx, secret, failRate)
}

func (s *benchSink) startInProcess(ctx context.Context, secret string, failRate float64) error {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	urls := make(chan string, 1)
	done := make(chan error, 1)
	rc := newBenchReceiver([]string{secret}, failRate)
	go func() { done <- serveBenchReceiver(ctx, "127.0.0.1:0", rc, func(u string) { urls <- u }) }()
	select {
	case s.URL = <-urls:
	case err := <-done:
		cancel()
		return err
	}
	s.stop = func() error { cancel(); return <-done }
	return nil
}

func (s *benchSink) startProcess(ctx context.Context, secret string, failRate float64) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the walhook executable for the bench receiver: %w", err)
	}
	cmd := exec.Command(exe, "bench-receiver", "--listen", "127.0.0.1:0",
		"--fail-rate", strconv.FormatFloat(failRate, 'g', -1, 64))
	cmd.Env = append(os.Environ(), benchSecretEnv+"="+secret)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("bench receiver stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("bench receiver stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the bench receiver process: %w", err)
	}
	s.stop = func() error {
		stdin.Close()
		return cmd.Wait()
	}
	line, err := readLine(ctx, stdout, 30*time.Second)
	if err != nil || !strings.HasPrefix(line, "http://") {
		_ = s.Close()
		return fmt.Errorf("start the bench receiver process (%s bench-receiver): it printed %q: %v", exe, line, err)
	}
	s.URL = line
	return nil
}

// readLine reads the first line of r, giving up after timeout.
func readLine(ctx context.Context, r io.Reader, timeout time.Duration) (string, error) {
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Scan()
		lines <- strings.TrimSpace(sc.Text())
		_, _ = io.Copy(io.Discard, r)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l := <-lines:
		return l, nil
	case <-t.C:
		return "", fmt.Errorf("no URL within %v", timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Close stops the receiver.
func (s *benchSink) Close() error {
	if s.stop == nil {
		return nil
	}
	stop := s.stop
	s.stop = nil
	return stop()
}

// Reset makes the receiver forget what it saw.
func (s *benchSink) Reset(ctx context.Context) error {
	_, err := s.call(ctx, http.MethodPost, "/_bench/reset")
	return err
}

// Count returns how many distinct events arrived since the last reset.
func (s *benchSink) Count(ctx context.Context) (int64, error) {
	b, err := s.call(ctx, http.MethodGet, "/_bench/count")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// Stats returns what the receiver saw since the last reset, with every
// event's latency.
func (s *benchSink) Stats(ctx context.Context) (benchStats, error) {
	var st benchStats
	b, err := s.call(ctx, http.MethodGet, "/_bench/stats?latencies=1")
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("decode bench receiver stats: %w", err)
	}
	return st, nil
}

func (s *benchSink) call(ctx context.Context, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask the bench receiver (%s %s): %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read the bench receiver's answer to %s: %w", path, err)
	}
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("bench receiver answered %s to %s %s", resp.Status, method, path)
	}
	return b, nil
}
