package config

import (
	"fmt"
	"net/netip"
)

// Trusting a proxy means believing the client address and scheme it
// reports, so a trusted range must hold only the operator's own proxies.
// A range is accepted for live mode only when it lies wholly inside the
// private, loopback or carrier-grade NAT space (where a load balancer of
// one's own lives) and is no wider than one private network: a public
// range, or 0.0.0.0/0 and ::/0, would let any client on the Internet claim
// any address (defeating IP allowlists and per-address limits) and claim
// HTTPS over plain HTTP. CRYPTOPAY_TRUSTED_PROXIES_FORCE accepts such a
// range anyway, for a proxy with public addresses (a CDN) whose ranges the
// operator has checked.

// privateProxySpace is where a trusted proxy may live without forcing.
// Each entry is also the widest range accepted inside it.
var privateProxySpace = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),     // RFC 1918
	netip.MustParsePrefix("172.16.0.0/12"),  // RFC 1918
	netip.MustParsePrefix("192.168.0.0/16"), // RFC 1918
	netip.MustParsePrefix("100.64.0.0/10"),  // RFC 6598 carrier-grade NAT (cloud internal balancers)
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback: a proxy on this host
	netip.MustParsePrefix("::1/128"),        // loopback
	netip.MustParsePrefix("fc00::/7"),       // unique local addresses
}

// maxULAPrefix is the widest unique-local range accepted: one site (/48),
// not the whole fc00::/7 space that every private IPv6 network shares.
const maxULAPrefix = 48

// ProxyRangeProblem says why p is not a safe trusted-proxy range for live
// mode, or returns "" when it is.
func ProxyRangeProblem(p netip.Prefix) string {
	p = p.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 { // ::ffff:10.0.0.0/104 is 10.0.0.0/8
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	for _, space := range privateProxySpace {
		if space.Addr().Is4() != p.Addr().Is4() || p.Bits() < space.Bits() || !space.Contains(p.Addr()) {
			continue
		}
		if space.Bits() == 7 && p.Bits() < maxULAPrefix {
			return fmt.Sprintf("%s is wider than one site's unique local range (/%d)", p, maxULAPrefix)
		}
		return ""
	}
	for _, space := range privateProxySpace {
		if space.Addr().Is4() == p.Addr().Is4() && p.Overlaps(space) && p.Bits() < space.Bits() {
			return fmt.Sprintf("%s is wider than the private range %s and includes public addresses", p, space)
		}
	}
	return fmt.Sprintf("%s includes public addresses", p)
}

// UnsafeTrustedProxies lists the configured proxy ranges ProxyRangeProblem
// refuses, with the reason, in configuration order.
func (c *Config) UnsafeTrustedProxies() []string {
	var out []string
	for _, p := range c.TrustedProxies {
		if why := ProxyRangeProblem(p); why != "" {
			out = append(out, why)
		}
	}
	return out
}
