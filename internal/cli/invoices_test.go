package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// TestInvoicesMarkCommands: an operator settles an invoice by hand, then
// invalidates it; each mark is audited with the operator as actor and the
// reason, and emits its event with data.marked. A repeated mark, a missing
// reason and an unknown invoice are refused and change nothing.
func TestInvoicesMarkCommands(t *testing.T) {
	ctx := context.Background()
	e, env := loopbackEnv(t)
	inv := withTestApp(t, env, func(a *app) *cryptopay.Invoice {
		return createTestInvoice(t, a, createRegtestStore(t, a).ID)
	})

	// The shop's endpoint hears of an operator's mark like any other event.
	ep := field(t, e.must("webhooks", "create", "--store", inv.StoreID, "--url", "http://127.0.0.1:9/hook"), "id")

	if out := e.must("invoices", "mark-settled", inv.ID, "--reason", "paid the rest in cash"); !strings.Contains(out, "marked "+inv.ID+" settled") {
		t.Errorf("mark-settled: %q", out)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"settled twice", []string{"invoices", "mark-settled", inv.ID, "--reason", "again"}, 1, "already settled"},
		{"no reason", []string{"invoices", "mark-invalid", inv.ID}, 2, "--reason"},
		{"no id", []string{"invoices", "mark-invalid"}, 2, "mark-invalid <invoice id>"},
		{"unknown invoice", []string{"invoices", "mark-invalid", "inv_01aaaaaaaaaaaaaaaaaaaaaaaa", "--reason", "x"}, 1, "No such invoice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := e.run(tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d: %q; want exit %d mentioning %q", code, errs, tc.code, tc.want)
			}
		})
	}
	e.must("invoices", "mark-invalid", inv.ID, "--reason", "refunded")

	audit := e.must("audit", "list", "--store", inv.StoreID, "--action", "invoice.marked")
	for _, want := range []string{"actor operator", inv.ID, "paid the rest in cash", "refunded"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log lacks %q:\n%s", want, audit)
		}
	}
	if n := strings.Count(audit, "invoice.marked"); n != 2 {
		t.Errorf("%d invoice.marked entries, want 2:\n%s", n, audit)
	}
	evs := withTestApp(t, env, func(a *app) []cryptopay.Event {
		evs, _, err := a.db.ListEvents(ctx, storage.EventFilter{StoreID: inv.StoreID, InvoiceID: inv.ID})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	})
	deliveries := e.must("webhooks", "deliveries", ep)
	for _, ev := range evs {
		if ev.Type != cryptopay.EventInvoiceCreated && !strings.Contains(deliveries, string(ev.Type)) {
			t.Errorf("no delivery queued for %s:\n%s", ev.Type, deliveries)
		}
	}
	var got []string
	for _, ev := range evs {
		var d cryptopay.InvoiceEventData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		got = append(got, string(ev.Type)+" "+d.Reason)
		if ev.Type != cryptopay.EventInvoiceCreated && !d.Marked {
			t.Errorf("%s not marked: %s", ev.Type, ev.Data)
		}
	}
	if want := "invoice.invalid refunded|invoice.settled paid the rest in cash|invoice.created "; strings.Join(got, "|") != want {
		t.Errorf("events newest first: %q, want %q", strings.Join(got, "|"), want)
	}
}

// withTestApp opens the app env configures, runs fn on it and closes it.
func withTestApp[T any](t *testing.T, env Env, fn func(a *app) T) T {
	t.Helper()
	a, err := open(context.Background(), env, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	return fn(a)
}

// loopbackEnv is an operator's environment on a fresh, migrated SQLite
// database, whose test-mode webhook endpoints may be on loopback (the tests
// register them and never reach them).
func loopbackEnv(t *testing.T) (*secEnv, Env) {
	e := &secEnv{t: t, vars: map[string]string{
		"CRYPTOPAY_DATA_DIR":               t.TempDir(),
		"CRYPTOPAY_WEBHOOK_ALLOW_LOOPBACK": "true",
	}}
	e.must("migrate")
	return e, Env{Getenv: func(k string) string { return e.vars[k] }}
}

// createRegtestStore creates a test-mode store on the regtest account key.
func createRegtestStore(t *testing.T, a *app) *cryptopay.Store {
	t.Helper()
	st, err := a.svc.CreateStore(t.Context(), gateway.StoreParams{Name: "shop",
		Wallets: []gateway.WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: regtestAccountKey(t)}}})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// createTestInvoice creates a 0.001 BTC invoice (order o-1) with a new key
// of the store, as a shop would.
func createTestInvoice(t *testing.T, a *app, storeID string) *cryptopay.Invoice {
	t.Helper()
	k, err := a.svc.CreateKey(t.Context(), gateway.KeyParams{StoreID: storeID, Name: "shop", Scopes: []string{"invoices:write"}})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := a.svc.CreateInvoice(t.Context(), k.Key, gateway.InvoiceParams{OrderID: "o-1", Amount: "0.001", Currency: "BTC"})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}
