package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// TestEventsOfAProcessWithoutWebhooksQueueTheirDeliveries: a process that
// never builds the webhook service (any command but serve and webhooks)
// still queues the deliveries of the events it writes, in their
// transaction, for the running gateway to send. Once, deliveries were
// queued by a hook that only the webhook service installed, so such a
// process wrote events no endpoint ever heard of.
func TestEventsOfAProcessWithoutWebhooksQueueTheirDeliveries(t *testing.T) {
	ctx := context.Background()
	e := &secEnv{t: t, vars: map[string]string{
		"CRYPTOPAY_DATA_DIR": t.TempDir(),
		// The endpoint below is on loopback; it is never reached.
		"CRYPTOPAY_WEBHOOK_ALLOW_LOOPBACK": "true",
	}}
	e.must("migrate")
	env := Env{Getenv: func(k string) string { return e.vars[k] }}
	st := withTestApp(t, env, func(a *app) *cryptopay.Store {
		vpub := regtestAccountKey(t)
		st, err := a.svc.CreateStore(ctx, gateway.StoreParams{Name: "shop",
			Wallets: []gateway.WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: vpub}}})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
	ep := field(t, e.must("webhooks", "create", "--store", st.ID, "--url", "http://127.0.0.1:9/hook"), "id")

	// This app has the gateway service only: no webhook service, no workers.
	inv := withTestApp(t, env, func(a *app) *cryptopay.Invoice {
		k, err := a.svc.CreateKey(ctx, gateway.KeyParams{StoreID: st.ID, Name: "shop", Scopes: []string{"invoices:write"}})
		if err != nil {
			t.Fatal(err)
		}
		inv, err := a.svc.CreateInvoice(ctx, k.Key, gateway.InvoiceParams{OrderID: "o-1", Amount: "0.001", Currency: "BTC"})
		if err != nil {
			t.Fatal(err)
		}
		return inv
	})
	deliveries := e.must("webhooks", "deliveries", ep)
	if n := strings.Count(deliveries, string(cryptopay.EventInvoiceCreated)); n != 1 {
		t.Fatalf("%d invoice.created deliveries queued for invoice %s, want 1:\n%s", n, inv.ID, deliveries)
	}
}
