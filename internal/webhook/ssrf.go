package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Resolver looks up a host's addresses; *net.Resolver implements it and
// tests pass their own to script DNS answers (including rebinding).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ErrForbiddenAddress: a webhook URL resolves to an address the gateway
// never sends to (loopback in live mode, private, link-local, unique-local,
// multicast, cloud metadata and other special ranges).
var ErrForbiddenAddress = errors.New("webhook: address not allowed")

// blocked lists special-purpose ranges a webhook never reaches, beyond
// what netip's predicates cover. Cloud metadata endpoints fall in them:
// 169.254.169.254 (link-local), fd00:ec2::254 (unique-local) and
// 100.100.100.200 (shared address space).
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),      // shared address space (carrier NAT)
	netip.MustParsePrefix("192.0.0.0/24"),       // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),       // documentation
	netip.MustParsePrefix("198.18.0.0/15"),      // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"),    // documentation
	netip.MustParsePrefix("203.0.113.0/24"),     // documentation
	netip.MustParsePrefix("240.0.0.0/4"),        // reserved, and broadcast
	netip.MustParsePrefix("100::/64"),           // discard-only
	netip.MustParsePrefix("64:ff9b:1::/48"),     // NAT64 local use (RFC 8215): local by definition, its IPv4 embedding unknown
	netip.MustParsePrefix("2001:db8::/32"),      // documentation
	netip.MustParsePrefix("fec0::/10"),          // deprecated site-local
	netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS metadata (also unique-local)
	netip.MustParsePrefix("169.254.169.254/32"), // metadata (also link-local)
}

// CheckAddr returns nil if a webhook may be sent to ip, or an error
// wrapping ErrForbiddenAddress naming the kind of address. Loopback is
// allowed only with allowLoopback (test mode). IPv4 embedded in IPv6
// (mapped, NAT64, 6to4) is checked as the IPv4 address it reaches.
func CheckAddr(ip netip.Addr, allowLoopback bool) error {
	ip = ip.Unmap()
	if ip.Is6() {
		if v4, ok := embeddedV4(ip); ok {
			if err := CheckAddr(v4, false); err != nil {
				return fmt.Errorf("%w: %s embeds %s", ErrForbiddenAddress, ip, v4)
			}
		}
	}
	kind := ""
	switch {
	case !ip.IsValid():
		kind = "invalid"
	case ip.IsLoopback():
		if allowLoopback {
			return nil
		}
		kind = "loopback"
	case ip.IsUnspecified():
		kind = "unspecified"
	case ip.IsPrivate():
		kind = "private" // 10/8, 172.16/12, 192.168/16, fc00::/7 (unique-local)
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		kind = "link-local"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		kind = "multicast"
	}
	if kind == "" {
		for _, p := range blocked {
			if p.Contains(ip) {
				kind = "special-purpose " + p.String()
				break
			}
		}
	}
	if kind != "" {
		return fmt.Errorf("%w: %s is %s", ErrForbiddenAddress, ip, kind)
	}
	return nil
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

func embeddedV4(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// ResolveError is a failed lookup of an endpoint's host. Its text says
// only what the merchant can act on: the resolver's own error names the
// gateway's DNS server (net.DNSError.Server), an internal address, so it
// is kept in Err for the log and never shown.
type ResolveError struct {
	Host string
	Err  error
}

func (e *ResolveError) Error() string {
	var dns *net.DNSError
	if errors.As(e.Err, &dns) && (dns.IsTimeout || dns.IsTemporary) && !dns.IsNotFound {
		return fmt.Sprintf("host %s could not be resolved (temporary DNS failure)", e.Host)
	}
	return fmt.Sprintf("host %s does not resolve", e.Host)
}

func (e *ResolveError) Unwrap() error { return e.Err }

// guard resolves a host, checks every address it resolves to and dials one
// of the checked addresses itself, so a DNS answer that changes between
// the check and the connection (rebinding) cannot redirect a delivery.
type guard struct {
	resolver      Resolver
	allowLoopback bool
	dialer        net.Dialer
}

// resolve returns host's addresses, failing if any is forbidden: a name
// that resolves to one public and one private address is refused rather
// than half trusted.
func (g *guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if ip.Zone() != "" {
			return nil, fmt.Errorf("%w: %s has a zone", ErrForbiddenAddress, ip)
		}
		return []netip.Addr{ip}, CheckAddr(ip, g.allowLoopback)
	}
	ips, err := g.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, &ResolveError{Host: host, Err: err}
	}
	if len(ips) == 0 {
		return nil, &ResolveError{Host: host, Err: errors.New("no addresses")}
	}
	for _, ip := range ips {
		if err := CheckAddr(ip, g.allowLoopback); err != nil {
			return nil, err
		}
	}
	return ips, nil
}

// DialContext is the transport's dialer: it connects only to addresses
// resolve approved, by IP, never by name.
func (g *guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := g.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, ip := range ips {
		c, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// newHTTPClient returns the client deliveries use: the guarded dialer, no
// proxy from the environment (a proxy would connect on our behalf to
// whatever it resolves), no redirects, and the per-attempt timeout. It
// keeps perHost idle connections per host, so an endpoint receiving its
// cap of attempts at once reuses its connections instead of dialling
// (and resolving and checking) anew for each; the guard checks every new
// connection, and a kept one goes to an address it approved.
func newHTTPClient(g *guard, timeout time.Duration, perHost int) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx is recorded, not followed
		},
	}
}

// validateURL checks an endpoint URL for its mode and returns it
// normalised. Live mode takes only https:// and only hosts whose every
// address is public; test mode also takes http://, and loopback when the
// operator allows it.
func (g *guard) validateURL(ctx context.Context, raw string, live bool) (string, error) {
	if raw == "" {
		return "", errors.New("url is required")
	}
	if len(raw) > 2048 {
		return "", errors.New("url is longer than 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "", errors.New("url must be an absolute http(s) URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && !live:
	case u.Scheme == "http":
		return "", errors.New("live mode sends webhooks only to https:// URLs")
	default:
		return "", fmt.Errorf("url scheme %q is not http or https", u.Scheme)
	}
	if u.User != nil {
		return "", errors.New("url must not carry credentials")
	}
	if u.Fragment != "" {
		return "", errors.New("url must not have a fragment")
	}
	if _, err := g.resolve(ctx, u.Hostname()); err != nil {
		if errors.Is(err, ErrForbiddenAddress) {
			if live {
				return "", fmt.Errorf("%v (live mode delivers only to public addresses)", err)
			}
			if g.allowLoopback {
				return "", fmt.Errorf("%v (test mode allows loopback, not other private addresses)", err)
			}
			return "", fmt.Errorf("%v (this gateway delivers only to public addresses)", err)
		}
		return "", err
	}
	return u.String(), nil
}
