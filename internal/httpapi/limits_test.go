package httpapi

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// TestLimitsEndpoints drives GET and PATCH /v1/limits as a shop's admin
// would, on both engines: scopes (a viewer's key and a read-only key are
// refused a change), bad input refused naming the field and changing
// nothing, a change audited with its key, a partial change leaving the
// other limits, and the limits enforced at and across their boundaries
// on invoice creation, then lifted with "0".
func TestLimitsEndpoints(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		admin := "Bearer " + e.secret
		viewerSecret, _ := e.newKey(gateway.KeyParams{Name: "viewer", Scopes: scopeNames(gateway.RoleScopes("viewer"))})
		readerSecret, _ := e.newKey(gateway.KeyParams{Name: "reader", Scopes: []string{"settings:read"}})
		shopSecret, _ := e.newKey(gateway.KeyParams{Name: "shop", Scopes: []string{"invoices:write"}})

		type limits struct {
			Object        string  `json:"object"`
			Currency      string  `json:"currency"`
			MaxInvoice    *string `json:"max_invoice"`
			Daily         *string `json:"daily"`
			Monthly       *string `json:"monthly"`
			CustomerDaily *string `json:"customer_daily"`
			WarnPercent   int     `json:"warn_percent"`
			UpdatedAt     *string `json:"updated_at"`
		}
		get := func() (limits, string) {
			t.Helper()
			r := e.raw("GET", "/v1/limits", admin, nil, "")
			var l limits
			if r.status != 200 || json.Unmarshal(r.body, &l) != nil {
				t.Fatalf("GET /v1/limits: %d %s", r.status, r.body)
			}
			return l, string(r.body)
		}
		str := func(p *string) string {
			if p == nil {
				return "none"
			}
			return *p
		}
		audited := func() int {
			t.Helper()
			es, _, err := e.svc.ListAuditEntries(ctx, e.key, gateway.AuditQuery{Action: gateway.AuditComplianceUpdated})
			if err != nil {
				t.Fatal(err)
			}
			return len(es)
		}

		l, _ := get()
		if l.Object != "limits" || l.Currency != "USD" || l.MaxInvoice != nil || l.Daily != nil || l.Monthly != nil ||
			l.CustomerDaily != nil || l.WarnPercent != 80 || l.UpdatedAt != nil {
			t.Fatalf("a new store's limits: %+v, want none, USD, warn at 80%%", l)
		}

		for _, c := range []struct {
			name, method, auth, body string
			status                   int
			code                     string
		}{
			{"viewer reads", "GET", viewerSecret, "", 403, "forbidden"},
			{"viewer changes", "PATCH", viewerSecret, `{"max_invoice":"1000.00"}`, 403, "forbidden"},
			{"shop key changes its own limits", "PATCH", shopSecret, `{"max_invoice":"1000000.00"}`, 403, "forbidden"},
			{"read-only key changes", "PATCH", readerSecret, `{"max_invoice":"1000.00"}`, 403, "forbidden"},
			{"read-only key reads", "GET", readerSecret, "", 200, ""},
		} {
			r := e.raw(c.method, "/v1/limits", "Bearer "+c.auth, nil, c.body)
			if r.status != c.status || r.err.Code != c.code {
				t.Errorf("%s: %d %+v, want %d %s", c.name, r.status, r.err, c.status, c.code)
			}
		}

		_, before := get()
		for _, c := range []struct {
			name, body string
			status     int
			param      string
		}{
			{"more decimals than USD has", `{"max_invoice":"100.001"}`, 400, "max_invoice"},
			{"negative", `{"daily":"-1.00"}`, 400, "daily"},
			{"a JSON number, not a decimal string", `{"monthly":100}`, 400, "monthly"},
			{"null", `{"daily":null}`, 400, "daily"},
			{"not a number", `{"monthly":"lots"}`, 400, "monthly"},
			{"exponent", `{"max_invoice":"1e3"}`, 400, "max_invoice"},
			{"unknown field", `{"max_invoice":"1.00","weekly":"5.00"}`, 400, "weekly"},
			{"field twice", `{"daily":"1.00","daily":"2.00"}`, 400, "daily"},
			{"warn at 0%", `{"warn_percent":0}`, 400, "warn_percent"},
			{"warn at 101%", `{"warn_percent":101}`, 400, "warn_percent"},
			{"warn as a string", `{"warn_percent":"90"}`, 400, "warn_percent"},
			{"per customer without a subject vault", `{"customer_daily":"50.00"}`, 400, "customer_daily"},
			{"valid limit beside a bad one", `{"max_invoice":"100.00","daily":"x"}`, 400, "daily"},
			{"no body", ``, 400, ""},
		} {
			r := e.raw("PATCH", "/v1/limits", admin, nil, c.body)
			if r.status != c.status || r.err.Code != "invalid_request" || c.param != "" && r.err.Param != c.param {
				t.Errorf("%s: %d %+v, want %d naming %q", c.name, r.status, r.err, c.status, c.param)
			}
		}
		if _, after := get(); after != before || audited() != 0 {
			t.Fatalf("refused changes changed something: %s → %s, %d audit entries", before, after, audited())
		}

		r := e.raw("PATCH", "/v1/limits", admin, nil, `{"max_invoice":"100.00","daily":"250.00"}`)
		if r.status != 200 {
			t.Fatalf("PATCH: %d %s", r.status, r.body)
		}
		r = e.raw("PATCH", "/v1/limits", admin, nil, `{"warn_percent":90}`)
		if r.status != 200 {
			t.Fatalf("PATCH warn_percent: %d %s", r.status, r.body)
		}
		l, _ = get()
		if str(l.MaxInvoice) != "100.00" || str(l.Daily) != "250.00" || l.Monthly != nil || l.WarnPercent != 90 || l.UpdatedAt == nil {
			t.Fatalf("limits after two changes: max %s daily %s monthly %s warn %d", str(l.MaxInvoice), str(l.Daily), str(l.Monthly), l.WarnPercent)
		}
		es, _, err := e.svc.ListAuditEntries(ctx, e.key, gateway.AuditQuery{Action: gateway.AuditComplianceUpdated})
		if err != nil || len(es) != 2 {
			t.Fatalf("audit entries: %d (%v), want 2", len(es), err)
		}
		if es[1].Actor != e.key.ID || !strings.Contains(es[1].Details, `"max_invoice":"100.00"`) {
			t.Fatalf("first change audited as %s %s; want the admin key and the new limit", es[1].Actor, es[1].Details)
		}

		// Boundaries, on creation through the shop's key: the day's total
		// reaches 250.00 exactly, then a cent more is refused.
		for _, c := range []struct {
			name, amount, currency string
			status                 int
			param                  string
		}{
			{"a cent over max_invoice", "100.01", "USD", 422, "max_invoice"},
			{"exactly max_invoice", "100.00", "USD", 201, ""},
			{"BTC worth 65.00 USD at the rate", "0.001", "BTC", 201, ""},
			{"85.00 reaches the daily limit exactly", "85.00", "USD", 201, ""},
			{"a cent across the daily limit", "0.01", "USD", 422, "daily"},
		} {
			r := e.raw("POST", "/v1/invoices", "Bearer "+shopSecret, nil,
				`{"order_id":"`+strings.ReplaceAll(c.name, " ", "-")+`","amount":"`+c.amount+`","currency":"`+c.currency+`"}`)
			if r.status != c.status || c.param != "" && (r.err.Code != string(cryptopay.CodeLimitExceeded) || r.err.Param != c.param) {
				t.Fatalf("%s: %d %+v, want %d %s", c.name, r.status, r.err, c.status, c.param)
			}
		}
		if r := e.raw("PATCH", "/v1/limits", admin, nil, `{"daily":"0"}`); r.status != 200 || !strings.Contains(string(r.body), `"daily":null`) {
			t.Fatalf("lifting the daily limit: %d %s", r.status, r.body)
		}
		if r := e.raw("POST", "/v1/invoices", "Bearer "+shopSecret, nil, `{"order_id":"after-lift","amount":"0.01","currency":"USD"}`); r.status != 201 {
			t.Fatalf("invoice after the daily limit was lifted: %d %s", r.status, r.body)
		}
	})
}

func scopeNames(ss []cryptopay.Scope) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}
