package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Rate is a token-bucket rule: Events per Per, with bursts of up to Burst.
// The zero Rate means the limit is off.
type Rate struct {
	Events int
	Per    time.Duration
	Burst  int
}

// Off reports whether the rule limits nothing.
func (r Rate) Off() bool { return r.Events == 0 }

// Interval is the time one token takes to come back.
func (r Rate) Interval() time.Duration {
	if r.Events == 0 {
		return 0
	}
	return r.Per / time.Duration(r.Events)
}

func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	unit := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h"}[r.Per]
	return fmt.Sprintf("%d/%s burst %d", r.Events, unit, r.Burst)
}

// maxRateEvents bounds a rule so its interval never rounds to zero.
const maxRateEvents = 1_000_000

// ParseRate parses "N/s", "N/m" or "N/h" with an optional " burst B" (the
// burst defaults to N), or "off". It returns an error naming what is wrong;
// it never panics.
func ParseRate(s string) (Rate, error) {
	f := strings.Fields(strings.ToLower(s))
	if len(f) == 1 && f[0] == "off" {
		return Rate{}, nil
	}
	if len(f) != 1 && (len(f) != 3 || f[1] != "burst") {
		return Rate{}, fmt.Errorf("want N/s, N/m or N/h, optionally followed by \"burst B\", or off; got %q", s)
	}
	n, unit, ok := strings.Cut(f[0], "/")
	if !ok {
		return Rate{}, fmt.Errorf("want N/unit, got %q", f[0])
	}
	var r Rate
	switch unit {
	case "s", "sec", "second":
		r.Per = time.Second
	case "m", "min", "minute":
		r.Per = time.Minute
	case "h", "hour":
		r.Per = time.Hour
	default:
		return Rate{}, fmt.Errorf("unknown unit %q: want s, m or h", unit)
	}
	var err error
	if r.Events, err = positive(n); err != nil {
		return Rate{}, err
	}
	r.Burst = r.Events
	if len(f) == 3 {
		if r.Burst, err = positive(f[2]); err != nil {
			return Rate{}, fmt.Errorf("burst: %w", err)
		}
	}
	return r, nil
}

func positive(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxRateEvents {
		return 0, fmt.Errorf("want a whole number from 1 to %d, got %q", maxRateEvents, s)
	}
	return n, nil
}

// ParseCIDRs parses a comma-separated list of CIDRs or single addresses
// (a bare address is its own /32 or /128).
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an address", part)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Layered returns getenv with CRYPTOPAY_CONFIG_FILE layered under it, the
// same view Load has; doctor uses it to inspect variables Load does not
// keep (those of other components).
func Layered(getenv func(string) string) (func(string) string, error) {
	return withFile(getenv)
}

// loadEdge reads the HTTPS, proxy, rate-limit and alerting variables.
func (c *Config) loadEdge(env func(string) string) error {
	c.TLSCertFile, c.TLSKeyFile = env("CRYPTOPAY_TLS_CERT_FILE"), env("CRYPTOPAY_TLS_KEY_FILE")
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("CRYPTOPAY_TLS_CERT_FILE and CRYPTOPAY_TLS_KEY_FILE must be set together")
	}
	for d := range strings.SplitSeq(env("CRYPTOPAY_ACME_DOMAINS"), ",") {
		if d = strings.ToLower(strings.TrimSpace(d)); d != "" {
			if strings.ContainsAny(d, "/:* ") {
				return fmt.Errorf("CRYPTOPAY_ACME_DOMAINS: %q is not a host name", d)
			}
			c.ACMEDomains = append(c.ACMEDomains, d)
		}
	}
	if len(c.ACMEDomains) > 0 && c.TLSCertFile != "" {
		return fmt.Errorf("CRYPTOPAY_ACME_DOMAINS and CRYPTOPAY_TLS_CERT_FILE exclude each other: choose automatic or manual certificates")
	}
	c.ACMEEmail = env("CRYPTOPAY_ACME_EMAIL")
	c.HTTPRedirectListen = env("CRYPTOPAY_HTTP_REDIRECT_LISTEN")
	var err error
	if c.TrustedProxies, err = ParseCIDRs(env("CRYPTOPAY_TRUSTED_PROXIES")); err != nil {
		return fmt.Errorf("CRYPTOPAY_TRUSTED_PROXIES: %w", err)
	}
	if c.TrustedProxiesForce, err = parseBool(env, "CRYPTOPAY_TRUSTED_PROXIES_FORCE"); err != nil {
		return err
	}
	if c.WebhookAllowLoopback, err = parseBool(env, "CRYPTOPAY_WEBHOOK_ALLOW_LOOPBACK"); err != nil {
		return err
	}
	for _, r := range []struct {
		name, def string
		dst       *Rate
	}{
		{"CRYPTOPAY_RATE_LIMIT_KEY", "25/s burst 50", &c.RateLimitKey},
		{"CRYPTOPAY_RATE_LIMIT_IP", "5/s burst 20", &c.RateLimitIP},
		{"CRYPTOPAY_RATE_LIMIT_AUTH_FAIL", "10/m burst 10", &c.RateLimitAuthFail},
	} {
		if *r.dst, err = ParseRate(or(env(r.name), r.def)); err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
	}
	c.RedisURL = env("CRYPTOPAY_REDIS_URL")
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		return fmt.Errorf("CRYPTOPAY_REDIS_URL: want a redis:// or rediss:// URL")
	}
	if c.MaxBodyBytes, err = strconv.ParseInt(or(env("CRYPTOPAY_MAX_BODY_BYTES"), "65536"), 10, 64); err != nil || c.MaxBodyBytes < 1024 {
		return fmt.Errorf("CRYPTOPAY_MAX_BODY_BYTES: want a whole number of bytes, at least 1024")
	}
	if c.PublicURL = strings.TrimRight(env("CRYPTOPAY_PUBLIC_URL"), "/"); c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("CRYPTOPAY_PUBLIC_URL: want a base URL such as https://pay.example.com (no query, fragment or credentials)")
		}
	}
	c.AlertWebhookURL = env("CRYPTOPAY_ALERT_WEBHOOK_URL")
	if c.AlertWebhookURL != "" {
		u, err := url.Parse(c.AlertWebhookURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("CRYPTOPAY_ALERT_WEBHOOK_URL: want an http(s) URL")
		}
	}
	return nil
}

// parseBool reads a true/false variable; unset is false.
func parseBool(env func(string) string, name string) (bool, error) {
	switch v := strings.ToLower(env(name)); v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, fmt.Errorf("%s: want true or false, got %q", name, v)
	}
}

// ServesTLS reports whether serve terminates TLS itself.
func (c *Config) ServesTLS() bool { return c.TLSCertFile != "" || len(c.ACMEDomains) > 0 }
