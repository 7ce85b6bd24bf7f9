package deliver

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// Policy is the outbound network policy: it refuses connections to
// addresses a webhook has no business reaching (loopback, private,
// link-local, CGNAT, unspecified, multicast and cloud metadata addresses)
// unless the operator allows them. It is applied at dial time to the
// resolved address, so a hostname that resolves to a refused address is
// refused too. A Policy is immutable and safe for concurrent use.
type Policy struct {
	allow []netip.Prefix
}

// PolicyError is the error of a refused connection. No connection was made.
type PolicyError struct {
	Addr   netip.Addr
	Reason string // "loopback address", "cloud metadata address", …
	// Metadata is true for cloud metadata addresses, which only an
	// allow_networks entry naming exactly that address allows.
	Metadata bool
}

// Error says which address was refused, why, and how to allow it.
func (e *PolicyError) Error() string {
	bits := 32
	if e.Addr.Is6() {
		bits = 128
	}
	how := "add it (or its network) to delivery.allow_networks to allow it"
	if e.Metadata {
		how = "metadata addresses are allowed only when listed one by one in delivery.allow_networks"
	}
	return fmt.Sprintf("refused to connect to %s (%s): %s, e.g. %q", e.Addr, e.Reason, how, netip.PrefixFrom(e.Addr, bits))
}

// metadataAddrs are cloud instance metadata services: AWS/GCP/Azure/…,
// AWS over IPv6, Alibaba.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"),
}

// refusedRanges are the ranges refused unless allowed, with the reason.
var refusedRanges = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified (\"this network\") address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast address"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast address"},
	{netip.MustParsePrefix("::/128"), "unspecified address"},
	{netip.MustParsePrefix("::1/128"), "loopback address"},
	{netip.MustParsePrefix("fc00::/7"), "private (unique local) address"},
	{netip.MustParsePrefix("fe80::/10"), "link-local address"},
	{netip.MustParsePrefix("ff00::/8"), "multicast address"},
}

// NewPolicy builds a Policy that allows the networks in allow, each a CIDR
// ("10.0.0.0/8", "fd00::/8") or a single address ("127.0.0.1"). The error
// names the bad entry and shows what to write.
func NewPolicy(allow []string) (*Policy, error) {
	p := &Policy{allow: make([]netip.Prefix, 0, len(allow))}
	for i, s := range allow {
		pfx, err := parseNetwork(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("parse delivery.allow_networks[%d] %q: %w", i, s, err)
		}
		p.allow = append(p.allow, pfx)
	}
	return p, nil
}

// parseNetwork parses a CIDR or a bare address (a single-address prefix).
func parseNetwork(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not a CIDR or IP address; write a network such as 10.0.0.0/8 or one address such as 192.168.1.10/32")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not a CIDR; write a network such as 10.0.0.0/8 or one address such as 192.168.1.10/32")
	}
	if pfx.Addr().Is4In6() {
		bits := pfx.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, fmt.Errorf("IPv4-mapped prefix shorter than /96; write the IPv4 network instead")
		}
		pfx = netip.PrefixFrom(pfx.Addr().Unmap(), bits)
	}
	return pfx.Masked(), nil
}

// nat64 is the well-known NAT64 prefix: its addresses reach the IPv4
// address in their last 32 bits.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Check returns nil when a connection to addr is allowed and a
// *PolicyError otherwise. IPv4-mapped and NAT64 (64:ff9b::/96) IPv6
// addresses are judged by the IPv4 address they reach.
func (p *Policy) Check(addr netip.Addr) error {
	addr = addr.Unmap().WithZone("")
	if nat64.Contains(addr) && !p.allows(addr) {
		b := addr.As16()
		if err := p.Check(netip.AddrFrom4([4]byte(b[12:]))); err != nil {
			return err
		}
	}
	for _, m := range metadataAddrs {
		if addr == m {
			if p.listsExactly(addr) {
				return nil
			}
			return &PolicyError{Addr: addr, Reason: "cloud metadata address", Metadata: true}
		}
	}
	for _, r := range refusedRanges {
		if r.prefix.Contains(addr) {
			if p.allows(addr) {
				return nil
			}
			return &PolicyError{Addr: addr, Reason: r.reason}
		}
	}
	return nil
}

// allows reports whether an allowed network contains addr.
func (p *Policy) allows(addr netip.Addr) bool {
	for _, a := range p.allow {
		if a.Contains(addr) {
			return true
		}
	}
	return false
}

// listsExactly reports whether addr is allowed as a single-address prefix.
func (p *Policy) listsExactly(addr netip.Addr) bool {
	for _, a := range p.allow {
		if a.IsSingleIP() && a.Addr() == addr {
			return true
		}
	}
	return false
}

// control is a net.Dialer Control function: it runs after the address is
// resolved and before the socket connects, and refuses what Check refuses.
func (p *Policy) control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("check dial address %q: %w", address, err)
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("check dial address %q: %w", address, err)
	}
	return p.Check(addr)
}
