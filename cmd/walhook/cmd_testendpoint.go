package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/walhook/walhook/admin"
	"github.com/walhook/walhook/deliver"
	"github.com/walhook/walhook/router"
)

func init() { commands = append(commands, newTestCmd) }

func newTestCmd(g *globalFlags) *cobra.Command {
	var (
		all          bool
		subs, subIDs []string
		payload      string
		method       string
		asJSON       bool
	)
	c := &cobra.Command{
		Use:   "test",
		Short: "Post a signed test event to subscribers' endpoints (webhook_test)",
		Long: `test posts a signed test event to every endpoint of the chosen subscribers
(the target URL, and each subscription's custom endpoint) through the same HTTP
client and network policy as real deliveries, and prints status, duration and
error. Test deliveries are not logged or counted and never auto-disable a
subscriber. The exit code is 1 when any test failed.`,
		Example: `  walhook test --all
  walhook test --subscriber "My External API" --payload '{"test": true}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			subs = append(subs, subIDs...)
			body, err := checkTestFlags(all, subs, payload, method)
			if err != nil {
				return err
			}
			return withState(cmd, g, func(ctx context.Context, s *stateAPI) error {
				results, err := s.runTests(ctx, all, subs, body)
				if err != nil {
					return err
				}
				if err := newOutput(cmd, asJSON).emit(results, func(w io.Writer) { printTests(w, results) }); err != nil {
					return err
				}
				return testsError(results)
			})
		},
	}
	fl := c.Flags()
	fl.BoolVar(&all, "all", false, "test every active subscriber")
	fl.StringSliceVar(&subs, "subscriber", nil, "test this subscriber (name or id; repeatable)")
	fl.StringSliceVar(&subIDs, "subscriber-id", nil, "same as --subscriber (the reference's spelling)")
	fl.StringVar(&payload, "payload", "", `the request body, JSON (default: a test event {"event": "test", …})`)
	fl.StringVar(&method, "method", "POST", "HTTP method; webhooks are always POSTed")
	addJSONFlag(c, &asJSON)
	return c
}

// checkTestFlags validates the flags and returns the custom body, if any.
func checkTestFlags(all bool, subs []string, payload, method string) ([]byte, error) {
	if !strings.EqualFold(method, "POST") {
		return nil, usagef("--method %s: walhook sends webhooks with POST only (Standard Webhooks); leave --method out", method)
	}
	switch {
	case all && len(subs) > 0:
		return nil, usagef("--all and --subscriber exclude each other: give one")
	case !all && len(subs) == 0:
		return nil, usagef("say which subscribers to test: --all, or --subscriber NAME (see walhook subscribers list)")
	}
	if payload == "" {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(payload)); err != nil {
		return nil, usagef("--payload is not JSON (%v): write e.g. '{\"test\": true}'", err)
	}
	return buf.Bytes(), nil
}

// testOutcome is one test delivery.
type testOutcome struct {
	Subscriber string `json:"subscriber"`
	admin.TestResult
}

func testsError(results []testOutcome) error {
	failed := 0
	for _, r := range results {
		if !r.Success {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d test deliveries failed", failed, len(results))
	}
	return nil
}

func printTests(w io.Writer, results []testOutcome) {
	if len(results) == 0 {
		fmt.Fprintln(w, "no active subscribers to test")
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "SUBSCRIBER\tRESULT\tSTATUS\tMS\tURL\tERROR")
	for _, r := range results {
		res, status := "ok", "-"
		if !r.Success {
			res = "FAILED"
		}
		if r.ResponseStatus != 0 {
			status = strconv.Itoa(r.ResponseStatus)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.Subscriber, res, status, r.DurationMS, r.URL, clipText(r.Error, 100))
	}
	tw.Flush()
}

// testTarget is a subscriber as a test delivery needs it.
type testTarget struct {
	id                  int64
	name, table, target string
	secrets             []string
	headers             map[string]string
	timeout             time.Duration
	customEndpoints     []string
}

// endpoints are the distinct URLs the subscriber's active subscriptions
// post to, its target URL when it has none.
func (t *testTarget) endpoints() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range t.customEndpoints {
		u, err := router.ResolveEndpoint(t.target, c)
		if err != nil {
			u = t.target + " " + c // tried as is: the client reports it
		}
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		out = []string{t.target}
	}
	return out
}

func (t *testTarget) endpoint(url string) *deliver.Endpoint {
	return &deliver.Endpoint{SubscriberID: t.id, Subscriber: t.name, URL: url, Secrets: t.secrets,
		Headers: t.headers, Timeout: t.timeout}
}

// testTargets reads subscribers by id (active or not), or every active
// one when ids is nil.
func (s *stateAPI) testTargets(ctx context.Context, ids []int64) ([]testTarget, error) {
	rows, err := s.db.Pool().Query(ctx, s.sql(`SELECT sb.id, sb.name, sb.table_name, sb.target_url, sb.secrets,
       sb.headers, sb.timeout_ms,
       coalesce(array_agg(sn.custom_endpoint ORDER BY sn.event_name) FILTER (WHERE sn.is_active), '{}')
FROM {{schema}}.subscribers sb LEFT JOIN {{schema}}.subscriptions sn ON sn.subscriber_id = sb.id
WHERE CASE WHEN $1::bigint[] IS NULL THEN sb.is_active ELSE sb.id = ANY($1) END
GROUP BY sb.id ORDER BY sb.name`), ids)
	if err != nil {
		return nil, fmt.Errorf("read subscribers to test: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (testTarget, error) {
		var t testTarget
		var timeoutMS int64
		err := r.Scan(&t.id, &t.name, &t.table, &t.target, &t.secrets, &t.headers, &timeoutMS, &t.customEndpoints)
		t.timeout = time.Duration(timeoutMS) * time.Millisecond
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("read subscribers to test: %w", err)
	}
	return out, nil
}

// runTests tests every endpoint of the chosen subscribers, at most 8 at
// a time, and returns the results in subscriber order.
func (s *stateAPI) runTests(ctx context.Context, all bool, names []string, body []byte) ([]testOutcome, error) {
	var ids []int64
	if !all {
		ids = []int64{}
		for _, n := range names {
			id, _, err := s.resolveSubscriber(ctx, n)
			if err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
	}
	targets, err := s.testTargets(ctx, ids)
	if err != nil {
		return nil, err
	}
	client, err := newDeliverClient(s.cfg)
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	var results []testOutcome
	for i := range targets {
		for _, u := range targets[i].endpoints() {
			results = append(results, testOutcome{Subscriber: targets[i].name, TestResult: admin.TestResult{SubscriberID: targets[i].id, URL: u}})
		}
	}
	runParallel(len(results), 8, func(i int) {
		t := findTarget(targets, results[i].SubscriberID)
		results[i].TestResult = testDelivery(ctx, client, t.endpoint(results[i].URL), t.table, body)
	})
	return results, nil
}

func findTarget(ts []testTarget, id int64) *testTarget {
	for i := range ts {
		if ts[i].id == id {
			return &ts[i]
		}
	}
	return nil
}

// runParallel calls fn(0) … fn(n-1) with at most limit running at once
// and returns when all have returned.
func runParallel(n, limit int, fn func(i int)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}

// testDelivery posts one signed test event to ep and reports the outcome;
// body nil sends the default test event. Nothing is logged or counted.
func testDelivery(ctx context.Context, client *deliver.Client, ep *deliver.Endpoint, table string, body []byte) admin.TestResult {
	id := testEventID()
	if body == nil {
		body = defaultTestBody(id, ep.Subscriber, table)
	}
	ev := &deliver.Event{ID: id, Name: "test", Table: table, Endpoint: ep, Body: body}
	a := client.Send(ctx, []*deliver.Event{ev})[0]
	return admin.TestResult{
		SubscriberID:   ep.SubscriberID,
		URL:            ep.URL,
		Success:        a.Success(),
		ResponseStatus: a.Status,
		ResponseBody:   clipText(a.ResponseBody, 1000),
		DurationMS:     a.Duration.Milliseconds(),
		Error:          a.Error,
	}
}

// testEventID is "evt_test_" and 24 random hex digits.
func testEventID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "evt_test_" + hex.EncodeToString(b[:])
}

func defaultTestBody(id, subscriber, table string) []byte {
	b, _ := json.Marshal(map[string]any{
		"id":          id,
		"event":       "test",
		"table":       table,
		"occurred_at": time.Now().UTC().Format(time.RFC3339Nano),
		"data":        map[string]any{"test": true, "subscriber": subscriber},
		"context":     map[string]any{"walhook_test": true},
	})
	return b
}
