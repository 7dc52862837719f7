package httpapi

// Tests of the network edge: security headers on every route, rate limits,
// trusted proxies, and a fuzz target over bodies and headers.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/ratelimit"
)

// fakeNow is a clock a test advances by hand.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// limitedEnv is an env whose server also has rate limits and trusts
// 10.9.0.0/16 as proxies.
func limitedEnv(t *testing.T, rl *RateLimit) (*env, *httptest.Server) {
	e := newEnv(t, engine{"sqlite", openSQLite})
	srv := httptest.NewServer(New(Config{Service: e.svc, RateLimit: rl,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}).Handler())
	t.Cleanup(srv.Close)
	return e, srv
}

func do(t *testing.T, srv *httptest.Server, method, path, auth string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader("{}"))
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestSecurityHeadersOnEveryRoute(t *testing.T) {
	e, srv := limitedEnv(t, nil)
	want := map[string]string{
		"X-Frame-Options": "SAMEORIGIN", "X-Content-Type-Options": "nosniff", "X-XSS-Protection": "1; mode=block",
		"Content-Security-Policy": "default-src 'self'", "Referrer-Policy": "no-referrer",
	}
	routes := append(parseRoutes(t), registeredRoute{method: "GET", path: "/no/such/route"}, registeredRoute{method: "DELETE", path: "/v1/invoices"})
	for _, r := range routes {
		path := strings.NewReplacer("{id}", "inv_missing").Replace(r.path)
		for _, auth := range []string{"", e.secret} {
			name := r.method + " " + r.path + map[bool]string{true: " (key)", false: " (no key)"}[auth != ""]
			t.Run(name, func(t *testing.T) {
				resp := do(t, srv, r.method, path, auth, nil)
				for k, v := range want {
					if got := resp.Header.Get(k); got != v {
						t.Errorf("%s: %q, want %q (status %d)", k, got, v, resp.StatusCode)
					}
				}
				if resp.Header.Get("Strict-Transport-Security") != "" {
					t.Errorf("HSTS sent over plain HTTP")
				}
				if cc := resp.Header.Get("Cache-Control"); r.path != "/v1/openapi.json" && cc != "no-store" {
					t.Errorf("Cache-Control %q on an API response", cc)
				}
			})
		}
	}
	t.Run("HSTS only when a trusted proxy says https", func(t *testing.T) {
		h := New(Config{Service: e.svc, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}).Handler()
		for _, tc := range []struct {
			name, peer, proto string
			hsts              bool
		}{
			{"trusted proxy, https", "10.9.0.1:4000", "https", true},
			{"trusted proxy, http", "10.9.0.1:4000", "http", false},
			{"untrusted peer claims https", "203.0.113.5:4000", "https", false},
		} {
			req := httptest.NewRequest("GET", "/healthz", nil)
			req.RemoteAddr = tc.peer
			req.Header.Set("X-Forwarded-Proto", tc.proto)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if got := rec.Header().Get("Strict-Transport-Security") != ""; got != tc.hsts {
				t.Errorf("%s: HSTS %v, want %v", tc.name, got, tc.hsts)
			}
		}
	})
}

// TestSecurityHeadersNotShared: the header values securityHeaders sets
// are shared between responses, so a handler that adds to one (as any
// handler may) must change its own response only, never the next one's.
func TestSecurityHeadersNotShared(t *testing.T) {
	h := securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/add" {
			for k := range w.Header() {
				w.Header().Add(k, "added")
			}
		}
	}))
	serve := func(path string) http.Header {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Header()
	}
	first := serve("/plain")
	added := serve("/add")
	for k, v := range first {
		if got := added.Values(k); len(got) != 2 || got[0] != v[0] || got[1] != "added" {
			t.Errorf("%s after Add: %q, want [%q added]", k, got, v[0])
		}
	}
	for k, v := range serve("/plain") {
		if len(v) != 1 || v[0] != first.Get(k) {
			t.Errorf("%s on the next response: %q, want [%q]", k, v, first.Get(k))
		}
	}
	if len(first) != 6 || first.Get("X-XSS-Protection") != "1; mode=block" {
		t.Errorf("headers %v", first)
	}
}

func TestForwardedForTrustsOnlyProxies(t *testing.T) {
	s := New(Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16"), netip.MustParsePrefix("fd00::/8")}})
	var got netip.Addr
	h := s.withProxy(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = clientIP(r) }))
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy, header ignored", "198.51.100.7:1", []string{"1.2.3.4"}, "198.51.100.7"},
		{"trusted proxy, one hop", "10.9.0.1:1", []string{"1.2.3.4"}, "1.2.3.4"},
		{"client prepends a lie", "10.9.0.1:1", []string{"6.6.6.6, 1.2.3.4"}, "1.2.3.4"},
		{"two trusted hops", "10.9.0.1:1", []string{"1.2.3.4, 10.9.3.3"}, "1.2.3.4"},
		{"several header lines", "10.9.0.1:1", []string{"6.6.6.6", "1.2.3.4, 10.9.0.2"}, "1.2.3.4"},
		{"garbage stops at last trusted hop", "10.9.0.1:1", []string{"1.2.3.4, nonsense, 10.9.0.2"}, "10.9.0.2"},
		{"all trusted", "10.9.0.1:1", []string{"10.9.0.5"}, "10.9.0.5"},
		{"empty header", "10.9.0.1:1", nil, "10.9.0.1"},
		{"ipv6 with port", "[fd00::1]:1", []string{"[2001:db8::9]:5555"}, "2001:db8::9"},
		{"mapped v4 peer", "[::ffff:10.9.0.1]:1", []string{"1.2.3.4"}, "1.2.3.4"},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
		if got.String() != tc.want {
			t.Errorf("%s: client %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestRateLimitHoldsAndRecovers(t *testing.T) {
	clk := &fakeNow{t: time.Unix(1_700_000_000, 0)}
	rl := &RateLimit{
		Limiter:  ratelimit.NewMemory(clk.now),
		PerKey:   ratelimit.Rule{Burst: 5, Interval: time.Second},
		PerIP:    ratelimit.Rule{Burst: 3, Interval: time.Second},
		AuthFail: ratelimit.Rule{Burst: 2, Interval: 30 * time.Second},
	}
	e, srv := limitedEnv(t, rl)

	t.Run("per key", func(t *testing.T) {
		for i := range 5 {
			resp := do(t, srv, "GET", "/v1/invoices", e.secret, nil)
			if resp.StatusCode != 200 || resp.Header.Get("RateLimit-Remaining") != strconv.Itoa(4-i) || resp.Header.Get("RateLimit-Limit") != "5" {
				t.Fatalf("request %d: %d, remaining %q", i, resp.StatusCode, resp.Header.Get("RateLimit-Remaining"))
			}
		}
		resp := do(t, srv, "GET", "/v1/invoices", e.secret, nil)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || resp.Header.Get("RateLimit-Reset") != "5" {
			t.Fatalf("over the limit: %d, Retry-After %q, Reset %q", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("RateLimit-Reset"))
		}
		if resp.Header.Get("X-Frame-Options") == "" || resp.Header.Get("Request-Id") == "" {
			t.Error("a 429 lacks the security headers or a request id")
		}
		// Another key is not affected; the same key recovers one token a second.
		other, _ := e.newKey(keyParams("invoices:read"))
		if resp := do(t, srv, "GET", "/v1/invoices", other, nil); resp.StatusCode != 200 {
			t.Errorf("another key: %d", resp.StatusCode)
		}
		clk.add(time.Second)
		if resp := do(t, srv, "GET", "/v1/invoices", e.secret, nil); resp.StatusCode != 200 {
			t.Errorf("after one interval: %d", resp.StatusCode)
		}
		if resp := do(t, srv, "GET", "/v1/invoices", e.secret, nil); resp.StatusCode != 429 {
			t.Errorf("only one token came back, yet: %d", resp.StatusCode)
		}
	})
	t.Run("per address without a key", func(t *testing.T) {
		peer := map[string]string{} // all from 127.0.0.1
		for range 3 {
			if resp := do(t, srv, "GET", "/healthz", "", peer); resp.StatusCode != 200 {
				t.Fatalf("within burst: %d", resp.StatusCode)
			}
		}
		if resp := do(t, srv, "GET", "/healthz", "", peer); resp.StatusCode != 429 {
			t.Fatalf("over the limit: %d", resp.StatusCode)
		}
		clk.add(3 * time.Second)
		if resp := do(t, srv, "GET", "/healthz", "", peer); resp.StatusCode != 200 {
			t.Fatalf("after refill: %d", resp.StatusCode)
		}
	})
	t.Run("failed authentication", func(t *testing.T) {
		clk.add(time.Minute)
		bad := "cp_test_" + strings.Repeat("A", 40)
		for i := range 2 {
			if resp := do(t, srv, "GET", "/v1/invoices", bad, nil); resp.StatusCode != 401 {
				t.Fatalf("attempt %d: %d, want 401", i, resp.StatusCode)
			}
		}
		// The budget is spent: even the right key from this address waits.
		if resp := do(t, srv, "GET", "/v1/invoices", e.secret, nil); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("after the budget: %d", resp.StatusCode)
		}
		clk.add(30 * time.Second)
		if resp := do(t, srv, "GET", "/v1/invoices", e.secret, nil); resp.StatusCode != 200 {
			t.Fatalf("after recovery: %d", resp.StatusCode)
		}
	})
}

func TestTooManyHeadersRefused(t *testing.T) {
	_, srv := limitedEnv(t, nil)
	hdr := map[string]string{}
	for i := range maxHeaders + 1 {
		hdr["X-H"+strconv.Itoa(i)] = "v"
	}
	if resp := do(t, srv, "GET", "/healthz", "", hdr); resp.StatusCode != 400 {
		t.Errorf("%d headers: %d, want 400", len(hdr), resp.StatusCode)
	}
	for i := range 20 {
		delete(hdr, "X-H"+strconv.Itoa(i))
	}
	if resp := do(t, srv, "GET", "/healthz", "", hdr); resp.StatusCode != 200 {
		t.Errorf("%d headers: %d, want 200", len(hdr), resp.StatusCode)
	}
}

// FuzzAPI sends arbitrary methods, paths, headers and bodies through the
// whole handler, with rate limits on: the answer is never a 5xx.
func FuzzAPI(f *testing.F) {
	f.Add("POST", "/v1/invoices", "Authorization", "Bearer x", []byte(`{"amount":"1"}`))
	f.Add("GET", "/v1/invoices?limit=0", "X-Forwarded-For", "1.2.3.4, ::1", []byte(nil))
	f.Add("POST", "/v1/api_keys/key_x/rotate", "Content-Type", "text/plain", []byte(`[[[[[[[[[[[]]]]]]]]]]]`))
	f.Add("GET", "/v1/events?type=%ff", "Idempotency-Key", strings.Repeat("k", 300), []byte("\x00"))
	e := newEnv(f, engine{"sqlite", openSQLite})
	h := New(Config{Service: e.svc, MaxBodyBytes: 4 << 10, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		RateLimit: &RateLimit{Limiter: ratelimit.NewMemory(nil), PerKey: ratelimit.Rule{Burst: 1 << 20, Interval: time.Nanosecond},
			PerIP: ratelimit.Rule{Burst: 1 << 20, Interval: time.Nanosecond}, AuthFail: ratelimit.Rule{Burst: 1 << 20, Interval: time.Nanosecond}}}).Handler()
	f.Fuzz(func(t *testing.T, method, path, hk, hv string, body []byte) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, "http://gateway"+path, bytes.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		if hk != "" && !strings.ContainsAny(hk, "\r\n:\x00 ") {
			req.Header.Set(hk, hv)
		}
		if len(body)%2 == 0 {
			req.Header.Set("Authorization", "Bearer "+e.secret)
		}
		req.RemoteAddr = "127.0.0.1:1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q (%s: %q) %q → %d %s", method, path, hk, hv, body, rec.Code, rec.Body)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s %q → %d without the security headers", method, path, rec.Code)
		}
	})
}

func keyParams(scopes ...string) gateway.KeyParams {
	return gateway.KeyParams{Name: "edge", Scopes: scopes}
}

// TestRateLimitBucketsIPv6By64: a client holding an IPv6 /64 can pick a
// fresh address for every request; its requests and failed logins still
// share one bucket, while the next /64 has its own.
func TestRateLimitBucketsIPv6By64(t *testing.T) {
	clk := &fakeNow{t: time.Unix(1_700_000_000, 0)}
	e := newEnv(t, engine{"sqlite", openSQLite})
	h := New(Config{Service: e.svc, RateLimit: &RateLimit{
		Limiter:  ratelimit.NewMemory(clk.now),
		PerKey:   ratelimit.Rule{Burst: 100, Interval: time.Second},
		PerIP:    ratelimit.Rule{Burst: 3, Interval: time.Minute},
		AuthFail: ratelimit.Rule{Burst: 2, Interval: time.Minute},
	}}).Handler()
	call := func(peer, auth string) int {
		req := httptest.NewRequest("GET", "/v1/invoices", nil)
		req.RemoteAddr = peer
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for i := range 3 {
		if code := call(fmt.Sprintf("[2001:db8:1:2::%x]:1000", i+1), ""); code == 429 {
			t.Fatalf("request %d from the /64: 429 too early", i)
		}
	}
	if code := call("[2001:db8:1:2:ffff:ffff:ffff:fffe]:1000", ""); code != 429 {
		t.Errorf("a fourth address of the same /64: %d, want 429", code)
	}
	if code := call("[2001:db8:1:3::1]:1000", ""); code == 429 {
		t.Errorf("the neighbouring /64 shares the bucket")
	}
	bad := "cp_test_" + strings.Repeat("x", 40)
	for i := range 2 {
		if code := call(fmt.Sprintf("[2001:db8:9:9::%x]:1000", i+1), bad); code != 401 {
			t.Fatalf("failed login %d: %d, want 401", i, code)
		}
	}
	if code := call("[2001:db8:9:9::abcd]:1000", bad); code != 429 {
		t.Errorf("a third failed login from the same /64: %d, want 429", code)
	}
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
	} {
		if got := rateBucket(netip.MustParseAddr(tc.in)); got != tc.want {
			t.Errorf("rateBucket(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestHeaderRefusalsAreJSONWithSecurityHeaders: too many header fields
// (400) and header fields too large (431) are refused before routing, yet
// with the JSON error body and the security headers of every answer, on a
// server configured as serve configures it.
func TestHeaderRefusalsAreJSONWithSecurityHeaders(t *testing.T) {
	e := newEnv(t, engine{"sqlite", openSQLite})
	srv := httptest.NewUnstartedServer(New(Config{Service: e.svc}).Handler())
	srv.Config.MaxHeaderBytes = ServerMaxHeaderBytes
	srv.Start()
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		status int
		code   string
	}{
		{"too many fields", manyHeaders(maxHeaders + 1), 400, "invalid_request"},
		{"fields too large", map[string]string{"X-Big": strings.Repeat("b", 40<<10)}, 431, "request_too_large"},
		{"large but within the limit", map[string]string{"X-Big": strings.Repeat("b", 30<<10)}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/healthz", nil)
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error struct{ Code, Message, RequestID string } `json:"error"`
			}
			derr := json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Frame-Options") == "" {
				t.Errorf("security headers missing: %v", resp.Header)
			}
			if tc.code == "" {
				return
			}
			if derr != nil || body.Error.Code != tc.code || body.Error.Message == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("body %+v (%v), content type %q; want JSON error %s", body, derr, resp.Header.Get("Content-Type"), tc.code)
			}
		})
	}
}
