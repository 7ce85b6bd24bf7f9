package config

import (
	"net"
	"net/netip"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"
)

// handlers maps a YAML key to the function decoding its value.
type handlers = map[string]func(v *yaml.Node, key string)

// config decodes the top-level mapping into c, starting from the defaults.
func (d *decoder) config(root *yaml.Node, c *Config) {
	setDefaults(c)
	d.fields(root, "", handlers{
		"source":      func(v *yaml.Node, k string) { d.source(v, k, &c.Source) },
		"state":       func(v *yaml.Node, k string) { d.state(v, k, &c.State) },
		"defaults":    func(v *yaml.Node, k string) { d.defaults(v, k, &c.Defaults) },
		"delivery":    func(v *yaml.Node, k string) { d.delivery(v, k, &c.Delivery) },
		"logs":        func(v *yaml.Node, k string) { d.logs(v, k, &c.Logs) },
		"cache":       func(v *yaml.Node, k string) { d.cache(v, k, &c.Cache) },
		"disabled":    func(v *yaml.Node, k string) { d.boolean(v, k, &c.Disabled) },
		"admin":       func(v *yaml.Node, k string) { d.admin(v, k, &c.Admin) },
		"log":         func(v *yaml.Node, k string) { d.log(v, k, &c.Log) },
		"tables":      func(v *yaml.Node, k string) { c.Tables = d.tables(v, k) },
		"events":      func(v *yaml.Node, k string) { c.Events = d.events(v, k) },
		"subscribers": func(v *yaml.Node, k string) { c.Subscribers = d.subscribers(v, k, c) },
	})
}

// setDefaults fills c with the documented defaults.
func setDefaults(c *Config) {
	c.Source = Source{Slot: "walhook", Publication: "walhook"}
	c.State = State{Schema: "walhook"}
	c.Defaults = Defaults{
		MaxRetries:               3,
		RetryDelay:               60 * time.Second,
		Timeout:                  30 * time.Second,
		AutoDisableAfterFailures: 10,
	}
	c.Delivery = Delivery{
		MaxBatchSize:           50,
		Concurrency:            64,
		PerEndpointConcurrency: 16,
		MaxResponseBytes:       64 << 10,
	}
	c.Logs = Logs{RetentionDays: 30, AutoCleanup: true, Payloads: LogPayloadsAll}
	c.Cache = Cache{TTL: 300 * time.Second}
	c.Admin = Admin{Listen: "127.0.0.1:8089"}
	c.Log = Log{Level: "info", Format: "json"}
}

var (
	slotName  = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)
	identName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
)

func (d *decoder) source(n *yaml.Node, path string, s *Source) {
	d.fields(n, path, handlers{
		"dsn": func(v *yaml.Node, k string) { d.str(v, k, &s.DSN) },
		"slot": func(v *yaml.Node, k string) {
			d.ident(v, k, slotName, "a replication slot name is 1 to 63 lower-case letters, digits or _", &s.Slot)
		},
		"publication": func(v *yaml.Node, k string) {
			d.ident(v, k, identName, "write a lower-case name of letters, digits and _", &s.Publication)
		},
	})
}

func (d *decoder) state(n *yaml.Node, path string, s *State) {
	d.fields(n, path, handlers{
		"dsn": func(v *yaml.Node, k string) { d.str(v, k, &s.DSN) },
		"schema": func(v *yaml.Node, k string) {
			d.ident(v, k, identName, "write a lower-case name of letters, digits and _", &s.Schema)
		},
	})
}

// ident decodes a Postgres object name that must match re.
func (d *decoder) ident(n *yaml.Node, key string, re *regexp.Regexp, hint string, dst *string) {
	var s string
	if !d.str(n, key, &s) {
		return
	}
	if !re.MatchString(s) {
		d.errorf(d.resolve(n), key, "%q is not a valid name; %s", s, hint)
		return
	}
	*dst = s
}

func (d *decoder) defaults(n *yaml.Node, path string, s *Defaults) {
	d.fields(n, path, handlers{
		"max_retries":                 func(v *yaml.Node, k string) { d.integer(v, k, 0, &s.MaxRetries) },
		"retry_delay":                 func(v *yaml.Node, k string) { d.duration(v, k, false, &s.RetryDelay) },
		"timeout":                     func(v *yaml.Node, k string) { d.duration(v, k, true, &s.Timeout) },
		"auto_disable_after_failures": func(v *yaml.Node, k string) { d.integer(v, k, 0, &s.AutoDisableAfterFailures) },
	})
}

func (d *decoder) delivery(n *yaml.Node, path string, s *Delivery) {
	d.fields(n, path, handlers{
		"max_batch_size":           func(v *yaml.Node, k string) { d.integer(v, k, 1, &s.MaxBatchSize) },
		"concurrency":              func(v *yaml.Node, k string) { d.integer(v, k, 1, &s.Concurrency) },
		"per_endpoint_concurrency": func(v *yaml.Node, k string) { d.integer(v, k, 1, &s.PerEndpointConcurrency) },
		"max_response_bytes":       func(v *yaml.Node, k string) { d.integer(v, k, 0, &s.MaxResponseBytes) },
		"allow_networks":           func(v *yaml.Node, k string) { s.AllowNetworks = d.networks(v, k) },
	})
}

// networks decodes a list of CIDRs; a bare address means that one address.
// The prefixes are returned in canonical form (10.1.2.3/8 → 10.0.0.0/8).
func (d *decoder) networks(n *yaml.Node, key string) []string {
	var raw []string
	if !d.strList(n, key, &raw) {
		return nil
	}
	items := d.resolve(n).Content
	out := make([]string, 0, len(raw))
	for i, s := range raw {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				d.errorf(items[min(i, len(items)-1)], index(key, i), "%q is not a network; write a CIDR like 10.0.0.0/8 or fd00::/8", s)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked().String())
	}
	return out
}

func (d *decoder) logs(n *yaml.Node, path string, s *Logs) {
	d.fields(n, path, handlers{
		"retention_days": func(v *yaml.Node, k string) { d.integer(v, k, 0, &s.RetentionDays) },
		"auto_cleanup":   func(v *yaml.Node, k string) { d.boolean(v, k, &s.AutoCleanup) },
		"payloads":       func(v *yaml.Node, k string) { d.oneOf(v, k, logPayloads, &s.Payloads) },
		"unlogged":       func(v *yaml.Node, k string) { d.boolean(v, k, &s.Unlogged) },
	})
}

func (d *decoder) cache(n *yaml.Node, path string, s *Cache) {
	d.fields(n, path, handlers{
		"ttl": func(v *yaml.Node, k string) { d.duration(v, k, false, &s.TTL) },
	})
}

func (d *decoder) admin(n *yaml.Node, path string, s *Admin) {
	present := d.fields(n, path, handlers{
		"listen": func(v *yaml.Node, k string) { d.listen(v, k, &s.Listen) },
		"token":  func(v *yaml.Node, k string) { d.str(v, k, &s.Token) },
	})
	if s.Token == "" && !loopback(s.Listen) && !d.hasErr(join(path, "listen")) {
		at := n
		if k := present["listen"]; k != nil {
			at = k
		}
		d.errorf(at, join(path, "listen"), "%s is not a loopback address, so the admin API needs a token; set admin.token (e.g. ${WALHOOK_ADMIN_TOKEN}) or listen on 127.0.0.1", s.Listen)
	}
}

// listen decodes a host:port address.
func (d *decoder) listen(n *yaml.Node, key string, dst *string) {
	var s string
	if !d.str(n, key, &s) || s == "" {
		return
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		d.errorf(d.resolve(n), key, "%q is not host:port; write an address like 127.0.0.1:8089", s)
		return
	}
	*dst = s
}

// loopback reports whether the host:port listen address only accepts
// connections from this machine.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

var (
	logPayloads   = []string{LogPayloadsAll, LogPayloadsFailures}
	logLevels     = []string{"debug", "info", "warn", "error"}
	logFormats    = []string{"json", "console"}
	logComponents = []string{"cdc", "router", "deliver", "store", "admin"}
)

func (d *decoder) log(n *yaml.Node, path string, s *Log) {
	d.fields(n, path, handlers{
		"level":  func(v *yaml.Node, k string) { d.oneOf(v, k, logLevels, &s.Level) },
		"format": func(v *yaml.Node, k string) { d.oneOf(v, k, logFormats, &s.Format) },
		"components": func(v *yaml.Node, k string) {
			s.Components = map[string]string{}
			d.pairs(v, k, func(ck, cv *yaml.Node) {
				key := join(k, ck.Value)
				if !contains(logComponents, ck.Value) {
					d.errorf(ck, key, "unknown component%s; use one of %s", didYouMean(ck.Value, logComponents), listOr(logComponents))
					return
				}
				var level string
				if d.oneOf(cv, key, logLevels, &level) {
					s.Components[ck.Value] = level
				}
			})
		},
	})
}

// oneOf decodes a string that must be one of allowed.
func (d *decoder) oneOf(n *yaml.Node, key string, allowed []string, dst *string) bool {
	var s string
	if !d.str(n, key, &s) {
		return false
	}
	if !contains(allowed, s) {
		d.errorf(d.resolve(n), key, "%q is not allowed here%s; write one of %s", s, didYouMean(s, allowed), listOr(allowed))
		return false
	}
	*dst = s
	return true
}
