package deliver

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr   string
		allow  []string
		reason string // "" means allowed
	}{
		{"93.184.216.34", nil, ""},
		{"2606:2800:220:1:248:1893:25c8:1946", nil, ""},
		{"127.0.0.1", nil, "loopback"},
		{"::1", nil, "loopback"},
		{"::ffff:127.0.0.1", nil, "loopback"},
		{"10.1.2.3", nil, "private"},
		{"172.16.0.1", nil, "private"},
		{"192.168.1.1", nil, "private"},
		{"fd12::1", nil, "private"},
		{"169.254.1.1", nil, "link-local"},
		{"fe80::1", nil, "link-local"},
		{"0.0.0.0", nil, "unspecified"},
		{"::", nil, "unspecified"},
		{"100.64.0.1", nil, "carrier-grade NAT"},
		{"224.0.0.1", nil, "multicast"},
		{"ff02::1", nil, "multicast"},
		{"169.254.169.254", nil, "metadata"},
		{"fd00:ec2::254", nil, "metadata"},
		{"100.100.100.200", nil, "metadata"},
		{"127.0.0.1", []string{"127.0.0.0/8"}, ""},
		{"10.1.2.3", []string{"10.0.0.0/8"}, ""},
		{"10.1.2.3", []string{"10.9.0.0/16"}, "private"},
		{"169.254.1.1", []string{"169.254.0.0/16"}, ""},
		{"169.254.169.254", []string{"169.254.0.0/16"}, "metadata"},
		{"169.254.169.254", []string{"169.254.169.254/32"}, ""},
		{"169.254.169.254", []string{"169.254.169.254"}, ""},
		{"fd00:ec2::254", []string{"fc00::/7"}, "metadata"},
		{"fd00:ec2::254", []string{"fd00:ec2::254/128"}, ""},
		{"100.100.100.200", []string{"100.64.0.0/10"}, "metadata"},
		{"100.100.100.201", []string{"100.64.0.0/10"}, ""},
		{"64:ff9b::a9fe:a9fe", nil, "metadata"},
		{"64:ff9b::7f00:1", nil, "loopback"},
		{"64:ff9b::5db8:d822", nil, ""},
		{"64:ff9b::7f00:1", []string{"64:ff9b::/96"}, ""},
	}
	for _, tt := range tests {
		p, err := NewPolicy(tt.allow)
		if err != nil {
			t.Fatal(err)
		}
		err = p.Check(netip.MustParseAddr(tt.addr))
		switch {
		case tt.reason == "" && err != nil:
			t.Errorf("Check(%s) with allow %v = %v, want allowed", tt.addr, tt.allow, err)
		case tt.reason != "" && (err == nil || !strings.Contains(err.Error(), tt.reason)):
			t.Errorf("Check(%s) with allow %v = %v, want refused as %s", tt.addr, tt.allow, err, tt.reason)
		case err != nil && !strings.Contains(err.Error(), "delivery.allow_networks"):
			t.Errorf("Check(%s) error %q does not say how to allow it", tt.addr, err)
		}
	}
}

func TestNewPolicyRejectsBadNetworks(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"10.0.0/8", "localhost", "10.0.0.0/33", ""} {
		_, err := NewPolicy([]string{"127.0.0.0/8", bad})
		if err == nil || !strings.Contains(err.Error(), "delivery.allow_networks[1]") || !strings.Contains(err.Error(), "10.0.0.0/8") {
			t.Errorf("NewPolicy(%q) error = %v, want one naming the entry and showing a CIDR", bad, err)
		}
	}
}

func TestClientRefusesLoopbackBeforeConnecting(t *testing.T) {
	t.Parallel()
	srv, conns := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	c := newClient(t, ClientOptions{})
	ep := &Endpoint{URL: srv.URL}
	a := c.Send(context.Background(), []*Event{eventTo(ep, "evt_1", "")})[0]
	if !a.Permanent || !strings.HasPrefix(a.Error, "policy: ") || !strings.Contains(a.Error, "127.0.0.1") ||
		!strings.Contains(a.Error, "loopback") || !strings.Contains(a.Error, "delivery.allow_networks") {
		t.Fatalf("attempt = %+v, want a permanent policy refusal naming 127.0.0.1, loopback and delivery.allow_networks", a)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("server saw %d connections, want 0", n)
	}
	// A hostname resolving to loopback is refused too.
	ep2 := &Endpoint{URL: strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)}
	a = c.Send(context.Background(), []*Event{eventTo(ep2, "evt_2", "")})[0]
	if !strings.HasPrefix(a.Error, "policy: ") || conns.Load() != 0 {
		t.Fatalf("via localhost: attempt = %+v, conns %d; want refused, 0 connections", a, conns.Load())
	}
}

func TestClientAllowsAllowedNetwork(t *testing.T) {
	t.Parallel()
	srv, conns := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	c := newClient(t, ClientOptions{AllowNetworks: []string{"127.0.0.0/8"}})
	a := c.Send(context.Background(), []*Event{eventTo(&Endpoint{URL: srv.URL}, "evt_1", "")})[0]
	if !a.Success() || conns.Load() != 1 {
		t.Fatalf("attempt = %+v, conns %d; want success over 1 connection", a, conns.Load())
	}
}
