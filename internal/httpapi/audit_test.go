package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay/internal/gateway"
)

// call makes a raw request with secret and decodes the JSON answer.
func call(t *testing.T, e *env, method, path, secret, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, b)
	}
	return resp.StatusCode, resp.Header, out
}

func TestRedactAndAuditEvents(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		status, _, inv := call(t, e, "POST", "/v1/invoices", e.secret,
			`{"order_id":"o-1","amount":"0.001","currency":"BTC","customer_reference":"user_123","metadata":{"sku":"A-1"}}`)
		if status != 200 && status != 201 {
			t.Fatalf("create invoice: %d %v", status, inv)
		}
		id := inv["id"].(string)
		status, hdr, red := call(t, e, "POST", "/v1/invoices/"+id+"/redact", e.secret, "")
		if status != 200 || red["customer_reference"] != "" && red["customer_reference"] != nil || red["amount"] != inv["amount"] {
			t.Fatalf("redact: %d %v", status, red)
		}
		status, _, list := call(t, e, "GET", "/v1/audit_events?action=invoice.redacted", e.secret, "")
		data, _ := list["data"].([]any)
		if status != 200 || len(data) != 1 {
			t.Fatalf("audit events: %d %v", status, list)
		}
		ev := data[0].(map[string]any)
		if ev["target"] != id || ev["actor"] != e.key.ID || ev["request_id"] != hdr.Get("Request-Id") || ev["source_ip"] != "127.0.0.1" {
			t.Errorf("audit event %v: want target %s, actor %s, request id %s from 127.0.0.1", ev, id, e.key.ID, hdr.Get("Request-Id"))
		}

		// audit:read is its own scope.
		secret, _ := e.newKey(gateway.KeyParams{Name: "invoices only", Scopes: []string{"invoices:read", "invoices:write"}})
		if status, _, body := call(t, e, "GET", "/v1/audit_events", secret, ""); status != 403 {
			t.Errorf("audit events without audit:read: %d %v", status, body)
		}
		// Personal data is refused with the guide's rule.
		status, _, body := call(t, e, "POST", "/v1/invoices", e.secret,
			`{"order_id":"o-2","amount":"0.001","currency":"BTC","metadata":{"customer_email":"a@b.example"}}`)
		errBody, _ := body["error"].(map[string]any)
		if status != 400 || errBody["param"] != "metadata[customer_email]" || !strings.Contains(errBody["message"].(string), "user_123") {
			t.Errorf("PII in metadata: %d %v", status, body)
		}
	})
}
