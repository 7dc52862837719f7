package httpapi

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/shred"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// TestComplianceEndpoints drives the compliance API as a shop would:
// a limit refused over HTTP, a review listed, resolved once and exported
// as CSV, and a customer exported and erased (idempotently).
func TestComplianceEndpoints(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		kr, _ := fieldcrypt.NewKeyring(fieldcrypt.Key{9})
		v, err := shred.Open(ctx, filepath.Join(t.TempDir(), "vault.db"), kr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		e.svc.SetVault(v)
		opCtx := gateway.WithActor(ctx, gateway.Actor{Operator: gateway.OperatorActor})
		if _, err := e.svc.SetCompliance(opCtx, e.store.ID, gateway.ComplianceParams{MaxInvoice: "100.00"}); err != nil {
			t.Fatal(err)
		}
		auth := "Bearer " + e.secret
		over := e.raw("POST", "/v1/invoices", auth, nil, `{"order_id":"big","amount":"100.01","currency":"USD"}`)
		if over.status != 422 || over.err.Code != "limit_exceeded" || over.err.Param != "max_invoice" {
			t.Fatalf("over the limit: %d %+v", over.status, over.err)
		}
		p := usdInvoice("o-1")
		p.CustomerReference = "user_1"
		inv, err := e.c.CreateInvoice(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		// A review as the chain watcher opens it (internal/watcher covers that).
		err = e.db.InTx(ctx, func(tx storage.Tx) error {
			return tx.CreateReview(ctx, &storage.Review{ID: cryptopay.NewID("rev", time.Now()), StoreID: e.store.ID,
				InvoiceID: inv.ID, Rule: "high_value_payment", Title: "High-value payment", Text: "=cmd|' /C calc'!A0",
				Evidence: storage.ReviewEvidence{Address: inv.Address, Payments: []storage.EvidencePayment{{TxID: "ab12", Amount: "0.10000000"}}},
				Status:   storage.ReviewOpen, OpenedAt: time.Now()})
		})
		if err != nil {
			t.Fatal(err)
		}
		var list struct {
			Data []struct {
				ID        string
				InvoiceID string `json:"invoice_id"`
			}
		}
		r := e.raw("GET", "/v1/reviews?status=open", auth, nil, "")
		if err := json.Unmarshal(r.body, &list); err != nil || r.status != 200 || len(list.Data) != 1 || list.Data[0].InvoiceID != inv.ID {
			t.Fatalf("reviews: %d %s", r.status, r.body)
		}
		id := list.Data[0].ID
		for _, c := range []struct {
			name, body  string
			status      int
			code, param string
		}{
			{"no note", `{}`, 400, "invalid_request", "note"},
			{"unknown field", `{"note":"x","extra":1}`, 400, "invalid_request", ""},
			{"resolved", `{"note":"customer verified"}`, 200, "", ""},
			{"twice", `{"note":"again"}`, 409, "invalid_state", ""},
		} {
			r := e.raw("POST", "/v1/reviews/"+id+"/resolve", auth, nil, c.body)
			if r.status != c.status || r.err.Code != c.code || c.param != "" && r.err.Param != c.param {
				t.Errorf("%s: %d %+v", c.name, r.status, r.err)
			}
		}
		csv := e.raw("GET", "/v1/reports/suspicious?from=2000-01-01&to=2100-01-01&format=csv", auth, nil, "")
		if csv.status != 200 || !strings.HasPrefix(csv.header.Get("Content-Type"), "text/csv") ||
			!strings.Contains(string(csv.body), id) || !strings.Contains(string(csv.body), "ab12") ||
			!strings.Contains(string(csv.body), "customer verified") || strings.Contains(string(csv.body), ",=cmd") {
			t.Fatalf("csv report: %d %s", csv.status, csv.body)
		}
		if r := e.raw("GET", "/v1/reports/suspicious?to=2100-01-01", auth, nil, ""); r.status != 400 || r.err.Param != "from" {
			t.Fatalf("report without from: %d %+v", r.status, r.err)
		}

		var x struct {
			Erased   bool
			Invoices []struct {
				ID                string
				CustomerReference string `json:"customer_reference"`
			}
		}
		r = e.raw("GET", "/v1/customers/user_1/export", auth, nil, "")
		if err := json.Unmarshal(r.body, &x); err != nil || r.status != 200 || len(x.Invoices) != 1 || x.Invoices[0].CustomerReference != "user_1" {
			t.Fatalf("export: %d %s", r.status, r.body)
		}
		for i, want := range []string{`"already_erased":false`, `"already_erased":true`} {
			if r := e.raw("DELETE", "/v1/customers/user_1", auth, nil, ""); r.status != 200 || !strings.Contains(string(r.body), want) {
				t.Fatalf("erase %d: %d %s", i, r.status, r.body)
			}
		}
		if r := e.raw("GET", "/v1/customers/user_1/export", auth, nil, ""); r.status != 200 || !strings.Contains(string(r.body), `"erased":true`) {
			t.Fatalf("export after erasure: %d %s", r.status, r.body)
		}
		if r := e.raw("DELETE", "/v1/customers/nobody", auth, nil, ""); r.status != 404 {
			t.Fatalf("erase unknown: %d %s", r.status, r.body)
		}
		got, err := e.c.GetInvoice(ctx, inv.ID)
		if err != nil || got.CustomerReference != nil && *got.CustomerReference != "" || got.Address != inv.Address {
			t.Fatalf("invoice after erasure: %+v %v", got, err)
		}
	})
}
