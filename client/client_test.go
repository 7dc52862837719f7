package client

import (
	"context"
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseError(t *testing.T) {
	cases := []struct {
		name        string
		status      int
		body        string
		code, param string
		wantMessage string
		wantReqID   string
	}{
		{"api error", 400, `{"error":{"type":"invalid_request_error","code":"invalid_request","message":"amount is required.","param":"amount","request_id":"req_1"}}`, "invalid_request", "amount", "amount is required.", "req_1"},
		{"no param", 401, `{"error":{"type":"authentication_error","code":"unauthenticated","message":"Invalid API key provided.","request_id":"req_2"}}`, "unauthenticated", "", "Invalid API key provided.", "req_2"},
		{"proxy html", 502, `<html>Bad Gateway</html>`, "http_502", "", "<html>Bad Gateway</html>", ""},
		{"empty body", 503, ``, "http_503", "", "Service Unavailable", ""},
		{"json without error", 500, `{"oops":true}`, "http_500", "", `{"oops":true}`, ""},
		{"error without code", 500, `{"error":{"message":"x"}}`, "http_500", "", `{"error":{"message":"x"}}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := parseError(tc.status, []byte(tc.body))
			if e.Status != tc.status || e.Code != tc.code || e.Param != tc.param || e.Message != tc.wantMessage || e.RequestID != tc.wantReqID {
				t.Errorf("parseError = %+v", e)
			}
			if !strings.Contains(e.Error(), tc.code) {
				t.Errorf("Error() = %q lacks the code", e.Error())
			}
		})
	}
}

func FuzzParseError(f *testing.F) {
	f.Add(400, []byte(`{"error":{"type":"invalid_request_error","code":"invalid_request","message":"m","param":"p","request_id":"r"}}`))
	f.Add(502, []byte(`<html>`))
	f.Add(500, []byte(`{"error":null}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := parseError(status, body)
		if e == nil || e.Status != status || e.Code == "" {
			t.Fatalf("parseError(%d, %q) = %+v", status, body, e)
		}
		_ = e.Error()
	})
}

// TestRequestShape checks what goes on the wire: method, escaped path,
// headers, query and a body with amounts as strings and durations in
// seconds.
func TestRequestShape(t *testing.T) {
	type seen struct {
		method, path, query, auth, ua, idem, ctype string
		body                                       map[string]any
	}
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery, auth: r.Header.Get("Authorization"),
			ua: r.Header.Get("User-Agent"), idem: r.Header.Get("Idempotency-Key"), ctype: r.Header.Get("Content-Type")}
		got.body = nil
		if len(b) > 0 {
			_ = json.Unmarshal(b, &got.body)
		}
		w.Header().Set("CryptoPay-Key-Expiry-Warning", "rotate soon")
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`{"object":"list","data":[],"has_more":false}`))
	}))
	defer srv.Close()
	var warnings []string
	c := New(srv.URL+"/", "cp_test_x", WithHTTPClient(srv.Client()), WithKeyExpiryWarning(func(w string) { warnings = append(warnings, w) }))
	ctx := context.Background()

	_, _ = c.CreateInvoice(ctx, InvoiceParams{OrderID: "o", Amount: "1.50", Currency: "EUR", ExpiresIn: 90 * time.Second}, WithIdempotencyKey("k1"))
	if got.method != "POST" || got.path != "/v1/invoices" || got.auth != "Bearer cp_test_x" || got.ua != DefaultUserAgent ||
		got.idem != "k1" || got.ctype != "application/json" {
		t.Errorf("create: %+v", got)
	}
	if got.body["amount"] != "1.50" || got.body["expires_in"] != float64(90) || len(got.body) != 4 {
		t.Errorf("create body %v: want amount as a string, expires_in in seconds, zero fields left out", got.body)
	}

	_, _ = c.GetInvoice(ctx, "inv_1/../../v1/api_keys")
	if got.path != "/v1/invoices/inv_1%2F..%2F..%2Fv1%2Fapi_keys" {
		t.Errorf("an id escaped its path segment: %q", got.path)
	}

	_, _ = c.ListInvoices(ctx, ListInvoicesParams{Status: "new", Limit: 5, StartingAfter: "inv_9"})
	if got.method != "GET" || got.query != "limit=5&starting_after=inv_9&status=new" || got.body != nil {
		t.Errorf("list: %+v", got)
	}

	zero := time.Duration(0)
	_, _ = c.RotateAPIKey(ctx, "key_1", RotateAPIKeyParams{GracePeriod: &zero})
	if got.path != "/v1/api_keys/key_1/rotate" || got.body["grace_period"] != float64(0) {
		t.Errorf("rotate with grace 0: %+v", got)
	}
	_, _ = c.RotateAPIKey(ctx, "key_1", RotateAPIKeyParams{})
	if _, ok := got.body["grace_period"]; ok {
		t.Errorf("rotate with the default grace sent %v", got.body)
	}
	if len(warnings) != 5 {
		t.Errorf("expiry warnings: %d, want one per response", len(warnings))
	}
}

// TestImportsOnlyStandardLibrary keeps the client importable by merchants:
// no internal package of the gateway, and no third-party dependency.
func TestImportsOnlyStandardLibrary(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") && path != "github.com/cryptopay/cryptopay/client" {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}

func TestBadBaseURL(t *testing.T) {
	for _, u := range []string{"", "pay.example.com", "://x"} {
		if _, err := New(u, "k").ListAPIKeys(context.Background()); err == nil || !strings.Contains(err.Error(), "base URL") {
			t.Errorf("New(%q): %v", u, err)
		}
	}
}
