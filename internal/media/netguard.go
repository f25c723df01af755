package media

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// deniedByDefault are the address ranges URL previews never connect to
// unless allowed explicitly: everything that is not the public internet.
// (IPv4-mapped IPv6 addresses are checked as the IPv4 address they map.)
var deniedByDefault = mustPrefixes(
	// IPv4
	"0.0.0.0/8",       // "this network"
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // carrier-grade NAT
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local (cloud metadata services live here)
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation
	"192.88.99.0/24",  // 6to4 relay anycast
	"192.168.0.0/16",  // private
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation
	"203.0.113.0/24",  // documentation
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, and broadcast
	// IPv6
	"::/128",         // unspecified
	"::1/128",        // loopback
	"64:ff9b::/96",   // NAT64: may reach any IPv4 address, private ones included
	"64:ff9b:1::/48", // local-use NAT64
	"100::/64",       // discard
	"2001::/32",      // Teredo (tunnels to IPv4)
	"2001:db8::/32",  // documentation
	"2002::/16",      // 6to4 (tunnels to IPv4)
	"fc00::/7",       // unique local
	"fe80::/10",      // link-local
	"fec0::/10",      // site-local (deprecated)
	"ff00::/8",       // multicast
)

func mustPrefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

// ipPolicy decides which addresses outgoing requests may connect to.
type ipPolicy struct {
	deny, allow []netip.Prefix
}

func newIPPolicy(deny, allow []string) (*ipPolicy, error) {
	p := &ipPolicy{deny: append([]netip.Prefix(nil), deniedByDefault...)}
	for _, s := range deny {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		p.deny = append(p.deny, pf)
	}
	for _, s := range allow {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		p.allow = append(p.allow, pf)
	}
	return p, nil
}

// allowed reports whether ip may be connected to: in an allowed range, or
// in no denied one.
func (p *ipPolicy) allowed(ip netip.Addr) bool {
	// A zone (fe80::1%eth0) would make every Contains false.
	ip = ip.Unmap().WithZone("")
	for _, pf := range p.allow {
		if pf.Contains(ip) {
			return true
		}
	}
	for _, pf := range p.deny {
		if pf.Contains(ip) {
			return false
		}
	}
	return ip.IsValid()
}

// errDeniedAddress is returned when a connection is refused by the policy.
type errDeniedAddress struct{ addr string }

func (e *errDeniedAddress) Error() string {
	return fmt.Sprintf("media: connecting to %s is not allowed", e.addr)
}

// control is a net.Dialer Control function: it runs for every connection
// after name resolution, on the address actually dialled, so that neither
// a hostname resolving to a private address (DNS rebinding included) nor
// a redirect to one gets through.
func (p *ipPolicy) control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !p.allowed(ip) {
		return &errDeniedAddress{address}
	}
	return nil
}
