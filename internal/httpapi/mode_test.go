package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// liveModeZpub is BIP84's test-vector account key (mainnet), for a live store.
const liveModeZpub = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"

// TestOtherModeIsIndistinguishableFromUnknown: a key asking for an object
// of the other mode gets exactly the 404 an unknown id gets (same status,
// code, param and message with the id swapped), in both directions and for
// every kind of object with a mode, so a test key cannot learn that a live
// id exists.
func TestOtherModeIsIndistinguishableFromUnknown(t *testing.T) {
	forEachEngineWith(t, true, func(t *testing.T, e *env) {
		ctx := context.Background()
		live, err := e.svc.CreateStore(ctx, gateway.StoreParams{Name: "Live shop", Livemode: true,
			Wallets: []gateway.WalletParams{{Network: string(cryptopay.NetworkBitcoin), AccountKey: liveModeZpub}}})
		if err != nil {
			t.Fatal(err)
		}
		liveSecret, liveKey := e.newKey(gateway.KeyParams{StoreID: live.ID, Livemode: true, Name: "live", Scopes: allScopes()})
		liveInv, err := e.svc.CreateInvoice(ctx, liveKey, gateway.InvoiceParams{OrderID: "live-1", Amount: "100.00", Currency: "USD"})
		if err != nil {
			t.Fatal(err)
		}
		testInv, err := e.svc.CreateInvoice(ctx, e.key, gateway.InvoiceParams{OrderID: "test-1", Amount: "100.00", Currency: "USD"})
		if err != nil {
			t.Fatal(err)
		}
		// Endpoints are written directly: which URLs a mode accepts is not
		// what this test is about.
		endpoint := func(st *cryptopay.Store) string {
			now := e.svc.Now()
			ep := &cryptopay.WebhookEndpoint{ID: cryptopay.NewID(cryptopay.PrefixEndpoint, now), StoreID: st.ID,
				Livemode: st.Livemode, URL: "https://shop.example/hook", Enabled: true, Secret: "unused", CreatedAt: now, UpdatedAt: now}
			if err := e.db.InTx(ctx, func(tx storage.Tx) error { return tx.CreateWebhookEndpoint(ctx, ep) }); err != nil {
				t.Fatal(err)
			}
			return ep.ID
		}
		liveEP, testEP := endpoint(live), endpoint(e.store)
		const unknownInv, unknownKey, unknownEP = "inv_01aaaaaaaaaaaaaaaaaaaaaaaa", "key_01aaaaaaaaaaaaaaaaaaaaaaaa", "we_01aaaaaaaaaaaaaaaaaaaaaaaa"
		type side struct {
			name         string
			bearer       string
			inv, key, ep string // objects of the other mode
		}
		for _, sd := range []side{
			{"test key, live objects", "Bearer " + e.secret, liveInv.ID, liveKey.ID, liveEP},
			{"live key, test objects", "Bearer " + liveSecret, testInv.ID, e.key.ID, testEP},
		} {
			for _, rt := range []struct {
				method, path   string // %s is the id
				other, unknown string
			}{
				{"GET", "/v1/invoices/%s", sd.inv, unknownInv},
				{"POST", "/v1/invoices/%s/redact", sd.inv, unknownInv},
				{"GET", "/v1/api_keys/%s", sd.key, unknownKey},
				{"POST", "/v1/api_keys/%s/rotate", sd.key, unknownKey},
				{"POST", "/v1/api_keys/%s/revoke", sd.key, unknownKey},
				{"GET", "/v1/webhook_endpoints/%s", sd.ep, unknownEP},
				{"PATCH", "/v1/webhook_endpoints/%s", sd.ep, unknownEP},
				{"DELETE", "/v1/webhook_endpoints/%s", sd.ep, unknownEP},
				{"POST", "/v1/webhook_endpoints/%s/rotate_secret", sd.ep, unknownEP},
				{"POST", "/v1/webhook_endpoints/%s/test", sd.ep, unknownEP},
				{"GET", "/v1/webhook_endpoints/%s/deliveries", sd.ep, unknownEP},
			} {
				t.Run(sd.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
					before := e.counts()
					hdr, body := map[string]string(nil), ""
					if rt.method == "PATCH" {
						hdr, body = map[string]string{"Content-Type": "application/json"}, `{"description":"x"}`
					}
					got := e.raw(rt.method, strings.Replace(rt.path, "%s", rt.other, 1), sd.bearer, hdr, body)
					want := e.raw(rt.method, strings.Replace(rt.path, "%s", rt.unknown, 1), sd.bearer, hdr, body)
					if want.status != http.StatusNotFound {
						t.Fatalf("unknown id: %d %s", want.status, want.body)
					}
					if got.status != want.status || got.err.Code != want.err.Code || got.err.Type != want.err.Type ||
						got.err.Param != want.err.Param || strings.ReplaceAll(got.err.Message, rt.other, rt.unknown) != want.err.Message {
						t.Errorf("other mode: %d %+v\nunknown id: %d %+v", got.status, got.err, want.status, want.err)
					}
					if after := e.counts(); after != before {
						t.Errorf("a refused request wrote: %+v → %+v", before, after)
					}
				})
			}
			// Events filtered by an invoice of the other mode list nothing,
			// as for an unknown invoice.
			r := e.raw("GET", "/v1/events?invoice="+sd.inv, sd.bearer, nil, "")
			var list struct{ Data []json.RawMessage }
			if r.status != http.StatusOK || json.Unmarshal(r.body, &list) != nil || len(list.Data) != 0 {
				t.Errorf("%s: events of the other mode's invoice: %d %s", sd.name, r.status, r.body)
			}
		}
		// The objects are untouched.
		if ep, err := e.db.GetWebhookEndpoint(ctx, liveEP); err != nil || ep.Description != "" || ep.Secret != "unused" {
			t.Errorf("live endpoint after the attempts: %+v, %v", ep, err)
		}
		if k, err := e.svc.GetKey(ctx, nil, liveKey.ID); err != nil || k.RevokedAt != nil || k.RotatedTo != "" {
			t.Errorf("live key after the attempts: %+v, %v", k, err)
		}
	})
}
