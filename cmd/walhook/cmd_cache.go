package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/walhook/walhook/admin"
)

func init() { commands = append(commands, newCacheCmd) }

// cacheFlags are the flags every cache subcommand shares.
type cacheFlags struct {
	adminURL string
	asJSON   bool
}

func newCacheCmd(g *globalFlags) *cobra.Command {
	cf := &cacheFlags{}
	c := &cobra.Command{
		Use:   "cache",
		Short: "Show, clear or warm the running walhook's subscription cache (webhook_cache)",
		Long: `The subscription cache lives inside the running walhook process, so these
commands talk to it through its admin API: admin.listen and admin.token from
the configuration, or --admin-url. The cache is never the source of truth:
changes to subscribers reach it through the WAL, and cache.ttl bounds
staleness for anything else; clear is for when you changed things behind
walhook's back.`,
	}
	c.PersistentFlags().StringVar(&cf.adminURL, "admin-url", "", "the running walhook's admin API (default http://<admin.listen>)")
	c.PersistentFlags().BoolVar(&cf.asJSON, "json", false, "print JSON for machines instead of text")
	c.AddCommand(cacheStatsCmd(g, cf), cacheClearCmd(g, cf), cacheWarmCmd(g, cf))
	return c
}

func cacheStatsCmd(g *globalFlags, cf *cacheFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Show cache hits, misses, hit ratio, keys and evictions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ac, err := newAdminClient(g, cf)
			if err != nil {
				return err
			}
			var st admin.CacheStats
			if err := ac.call(cmd.Context(), http.MethodGet, "/api/v1/cache/stats", nil, &st); err != nil {
				return err
			}
			return newOutput(cmd, cf.asJSON).emit(st, func(w io.Writer) {
				fmt.Fprintf(w, "hits %d, misses %d, hit ratio %.1f%%, keys %d, evictions %d\n",
					st.Hits, st.Misses, 100*st.HitRatio, st.Keys, st.Evictions)
			})
		},
	}
}

func cacheClearCmd(g *globalFlags, cf *cacheFlags) *cobra.Command {
	var table, event string
	c := &cobra.Command{
		Use:   "clear",
		Short: "Drop cached subscriptions: all, or one table's, or one table and event's",
		Example: `  walhook cache clear
  walhook cache clear --table public.users --event created`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if event != "" && table == "" {
				return usagef("--event %s needs --table: the cache is keyed by table and event", event)
			}
			if table != "" && !strings.Contains(table, ".") {
				return usagef("--table %q is not schema-qualified: write schema.table, e.g. public.%s", table, table)
			}
			ac, err := newAdminClient(g, cf)
			if err != nil {
				return err
			}
			body := map[string]string{"table": table, "event": event}
			if err := ac.call(cmd.Context(), http.MethodPost, "/api/v1/cache/clear", body, nil); err != nil {
				return err
			}
			return newOutput(cmd, cf.asJSON).emit(map[string]any{"cleared": true, "table": table, "event": event}, func(w io.Writer) {
				switch {
				case table == "":
					fmt.Fprintln(w, "cache cleared")
				case event == "":
					fmt.Fprintf(w, "cache cleared for %s\n", table)
				default:
					fmt.Fprintf(w, "cache cleared for %s %s\n", table, event)
				}
			})
		},
	}
	c.Flags().StringVar(&table, "table", "", "only this table, e.g. public.users")
	c.Flags().StringVar(&table, "content-type", "", "same as --table (the reference's spelling)")
	c.Flags().StringVar(&event, "event", "", "only this event of --table, e.g. created")
	return c
}

func cacheWarmCmd(g *globalFlags, cf *cacheFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "warm",
		Short: "Load every subscription into the cache",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ac, err := newAdminClient(g, cf)
			if err != nil {
				return err
			}
			var res struct {
				Loaded int `json:"loaded"`
			}
			if err := ac.call(cmd.Context(), http.MethodPost, "/api/v1/cache/warm", nil, &res); err != nil {
				return err
			}
			return newOutput(cmd, cf.asJSON).emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "cache warmed: %d (table, event) entries loaded\n", res.Loaded)
			})
		},
	}
}

// adminClient calls a running walhook's admin API.
type adminClient struct {
	base  string
	token string
	http  *http.Client
}

// newAdminClient reads the admin address and token from the
// configuration; --admin-url overrides the address.
func newAdminClient(g *globalFlags, cf *cacheFlags) (*adminClient, error) {
	cfg, err := loadConfig(g.configPath)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(cf.adminURL, "/")
	if base == "" {
		base = "http://" + dialable(cfg.Admin.Listen)
	} else if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, usagef("--admin-url %q: write a URL such as http://127.0.0.1:8089", cf.adminURL)
	}
	return &adminClient{base: base, token: cfg.Admin.Token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// dialable turns a listen address into one to connect to: an unspecified
// host (":8089", "0.0.0.0:8089", "[::]:8089") becomes loopback.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// call sends a request with the bearer token and decodes a 200 answer
// into out (when not nil). It says plainly when nothing listens there,
// the token is refused, or the server answers with an error.
func (c *adminClient) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return usagef("admin URL %s: %v", c.base, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.unreachable(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read answer of %s %s: %w", method, c.base+path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return c.refused(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, c.base+path, err)
	}
	return nil
}

func (c *adminClient) unreachable(err error) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return fmt.Errorf("no walhook is running at %s (%v): the cache lives inside the running walhook process; start walhook run, or point --admin-url at its admin.listen address", c.base, opErr.Err)
	}
	return fmt.Errorf("reach the walhook admin API at %s: %w", c.base, err)
}

func (c *adminClient) refused(code int, data []byte) error {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(data, &e)
	if e.Error == "" {
		e.Error = strings.TrimSpace(clipText(string(data), 200))
	}
	switch code {
	case http.StatusUnauthorized:
		return fmt.Errorf("the walhook at %s refused the admin token (HTTP 401): set admin.token in the configuration (or WALHOOK_ADMIN_TOKEN) to the running walhook's token", c.base)
	case http.StatusNotImplemented:
		return fmt.Errorf("the walhook at %s has no subscription cache wired (HTTP 501): %s", c.base, e.Error)
	default:
		return fmt.Errorf("the walhook at %s answered HTTP %d: %s", c.base, code, e.Error)
	}
}
