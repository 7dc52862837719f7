package config

import (
	"net/netip"
	"strings"
	"testing"
)

func TestProxyRangeProblem(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string
		safe         bool
		says         string
	}{
		{"everything v4", "0.0.0.0/0", false, "public"},
		{"everything v6", "::/0", false, "public"},
		{"a public /24", "203.0.113.0/24", false, "public"},
		{"one public host", "198.51.100.7/32", false, "public"},
		{"wider than 10/8", "8.0.0.0/6", false, "wider than the private range 10.0.0.0/8"},
		{"wider than 192.168/16", "192.160.0.0/12", false, "wider"},
		{"private /8", "10.0.0.0/8", true, ""},
		{"private host", "10.9.0.1/32", true, ""},
		{"private 172.16/12", "172.16.0.0/12", true, ""},
		{"172.32 is public", "172.32.0.0/16", false, "public"},
		{"private /24", "192.168.1.0/24", true, ""},
		{"carrier-grade NAT", "100.64.0.0/10", true, ""},
		{"loopback", "127.0.0.1/32", true, ""},
		{"v6 loopback", "::1/128", true, ""},
		{"ULA site", "fd12:3456:789a::/48", true, ""},
		{"ULA host", "fd00::1/128", true, ""},
		{"all ULA", "fc00::/7", false, "wider than one site"},
		{"ULA /8", "fd00::/8", false, "wider than one site"},
		{"public v6", "2001:db8::/32", false, "public"},
		{"mapped private", "::ffff:10.0.0.0/104", true, ""},
		{"mapped everything", "::ffff:0.0.0.0/96", false, "public"},
		{"NAT64 prefix", "64:ff9b::/96", false, "public"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ProxyRangeProblem(netip.MustParsePrefix(tc.prefix))
			if (got == "") != tc.safe || !strings.Contains(got, tc.says) {
				t.Errorf("ProxyRangeProblem(%s) = %q; want safe %v, saying %q", tc.prefix, got, tc.safe, tc.says)
			}
		})
	}
}

func TestTrustedProxiesForce(t *testing.T) {
	for _, tc := range []struct {
		value string
		force bool
		ok    bool
	}{{"", false, true}, {"false", false, true}, {"true", true, true}, {"TRUE", true, true}, {"yes", false, false}} {
		c, err := Load(func(k string) string {
			return map[string]string{"CRYPTOPAY_TRUSTED_PROXIES": "0.0.0.0/0,::/0", "CRYPTOPAY_TRUSTED_PROXIES_FORCE": tc.value}[k]
		})
		if (err == nil) != tc.ok || err == nil && c.TrustedProxiesForce != tc.force {
			t.Errorf("FORCE=%q: err %v, force %v; want ok %v force %v", tc.value, err, c != nil && c.TrustedProxiesForce, tc.ok, tc.force)
			continue
		}
		if err == nil && len(c.UnsafeTrustedProxies()) != 2 {
			t.Errorf("FORCE=%q: unsafe %q, want both ranges named", tc.value, c.UnsafeTrustedProxies())
		}
	}
}
