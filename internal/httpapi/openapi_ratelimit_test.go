package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/cryptopay/cryptopay/internal/ratelimit"
)

// TestOpenAPIRateLimitResponses drives a rate-limited server into its
// limits through the validating transport: the 2xx responses with their
// RateLimit-* headers, the 429 with Retry-After and the error shape, and
// the 400 for too many header fields must all match the document.
func TestOpenAPIRateLimitResponses(t *testing.T) {
	doc := loadOpenAPI(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeNow{t: time.Unix(1_700_000_000, 0)} // never advanced: buckets do not refill
	e, srv := limitedEnv(t, &RateLimit{
		Limiter:  ratelimit.NewMemory(clk.now),
		PerKey:   ratelimit.Rule{Burst: 2, Interval: time.Second},
		PerIP:    ratelimit.Rule{Burst: 100, Interval: time.Second},
		AuthFail: ratelimit.Rule{Burst: 100, Interval: time.Second},
	})
	vt := &validatingTransport{t: t, base: srv.Client().Transport, router: router, seen: map[string][]int{}}
	hc := &http.Client{Transport: vt}
	get := func(path string, extra map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+e.secret)
		for k, v := range extra {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	cases := []struct {
		name        string
		path        string
		extra       map[string]string
		wantStatus  int
		wantHeaders []string
	}{
		{"within the limit", "/v1/invoices", nil, 200, []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}},
		{"last token", "/v1/events", nil, 200, []string{"RateLimit-Remaining"}},
		{"over the limit", "/v1/invoices", nil, 429, []string{"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}},
		{"over the limit, another operation", "/v1/api_keys", nil, 429, []string{"Retry-After"}},
		{"too many header fields", "/v1/invoices", manyHeaders(200), 400, nil},
	}
	for _, tc := range cases {
		resp := get(tc.path, tc.extra)
		if resp.StatusCode != tc.wantStatus {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.wantStatus)
		}
		for _, h := range tc.wantHeaders {
			if resp.Header.Get(h) == "" {
				t.Errorf("%s: no %s header", tc.name, h)
			}
		}
	}
	for op, want := range map[string][]int{"listInvoices": {200, 429, 400}, "listEvents": {200}, "listAPIKeys": {429}} {
		for _, s := range want {
			if !slices.Contains(vt.seen[op], s) {
				t.Errorf("%s: no %d response was validated (saw %v)", op, s, vt.seen[op])
			}
		}
	}

	// Every authenticated operation documents the 429 and its headers.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security != nil && len(*op.Security) == 0 {
				continue // unauthenticated
			}
			r := op.Responses.Status(429)
			if r == nil || r.Value == nil || r.Value.Headers["Retry-After"] == nil {
				t.Errorf("%s %s: no 429 with Retry-After", method, path)
			}
			for code, resp := range op.Responses.Map() {
				if strings.HasPrefix(code, "2") && resp.Value.Headers["RateLimit-Remaining"] == nil {
					t.Errorf("%s %s → %s: RateLimit headers undocumented", method, path, code)
				}
			}
		}
	}
}

// manyHeaders returns n distinct harmless header fields.
func manyHeaders(n int) map[string]string {
	h := map[string]string{}
	for i := range n {
		h["X-Filler-"+strings.Repeat("a", 1+i%20)+string(rune('a'+i/20))] = "1"
	}
	return h
}
