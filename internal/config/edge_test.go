package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Rate
		err  string
	}{
		{"25/s burst 50", Rate{25, time.Second, 50}, ""},
		{"10/m", Rate{10, time.Minute, 10}, ""},
		{"100/h burst 5", Rate{100, time.Hour, 5}, ""},
		{" 3/MIN  BURST 7 ", Rate{3, time.Minute, 7}, ""},
		{"off", Rate{}, ""},
		{"", Rate{}, "want N/s"},
		{"25", Rate{}, "want N/unit"},
		{"25/d", Rate{}, "unknown unit"},
		{"0/s", Rate{}, "whole number"},
		{"-1/s", Rate{}, "whole number"},
		{"1.5/s", Rate{}, "whole number"},
		{"5/s burst 0", Rate{}, "burst"},
		{"5/s burst", Rate{}, "want N/s"},
		{"5/s limit 9", Rate{}, "want N/s"},
		{"99999999999/s", Rate{}, "whole number"},
	} {
		got, err := ParseRate(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q: %+v %v, want %+v", tc.in, got, err, tc.want)
		}
	}
	if r, _ := ParseRate("25/s burst 50"); r.Interval() != 40*time.Millisecond || r.String() != "25/s burst 50" {
		t.Errorf("interval %v, string %q", r.Interval(), r)
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"25/s burst 50", "off", "1/h", "0/s", "/", "1/s burst -1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil || r.Off() {
			return
		}
		if r.Events < 1 || r.Burst < 1 || r.Interval() <= 0 {
			t.Fatalf("%q parsed to an unusable rule %+v", s, r)
		}
		if back, err := ParseRate(r.String()); err != nil || back != r {
			t.Fatalf("%q → %q does not round-trip: %+v %v", s, r, back, err)
		}
	})
}

func TestEdgeConfig(t *testing.T) {
	base := map[string]string{"CRYPTOPAY_DATA_DIR": t.TempDir()}
	load := func(kv ...string) (*Config, error) {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return Load(func(k string) string { return m[k] })
	}
	c, err := load()
	if err != nil || c.RateLimitKey.Off() || c.RateLimitIP.Off() || c.RateLimitAuthFail.Off() || c.MaxBodyBytes != 65536 || c.ServesTLS() {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = load("CRYPTOPAY_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7,::1", "CRYPTOPAY_ACME_DOMAINS", "Pay.Example.com,shop.example.com")
	if err != nil || len(c.TrustedProxies) != 3 || c.TrustedProxies[1].String() != "192.168.1.7/32" || c.ACMEDomains[0] != "pay.example.com" || !c.ServesTLS() {
		t.Fatalf("proxies/acme: %+v %v", c, err)
	}
	for _, tc := range []struct{ name, k, v string }{
		{"cert without key", "CRYPTOPAY_TLS_CERT_FILE", "/c.pem"},
		{"bad proxy", "CRYPTOPAY_TRUSTED_PROXIES", "10.0.0.0/33"},
		{"bad rate", "CRYPTOPAY_RATE_LIMIT_KEY", "lots"},
		{"tiny body", "CRYPTOPAY_MAX_BODY_BYTES", "10"},
		{"redis scheme", "CRYPTOPAY_REDIS_URL", "http://127.0.0.1:6379"},
		{"alert scheme", "CRYPTOPAY_ALERT_WEBHOOK_URL", "ftp://x"},
		{"acme wildcard", "CRYPTOPAY_ACME_DOMAINS", "*.example.com"},
	} {
		if _, err := load(tc.k, tc.v); err == nil || !strings.Contains(err.Error(), tc.k) {
			t.Errorf("%s: error %v, want one naming %s", tc.name, err, tc.k)
		}
	}
	if _, err := load("CRYPTOPAY_TLS_CERT_FILE", "/c", "CRYPTOPAY_TLS_KEY_FILE", "/k", "CRYPTOPAY_ACME_DOMAINS", "a.example"); err == nil {
		t.Error("ACME and certificate files together were accepted")
	}
}
