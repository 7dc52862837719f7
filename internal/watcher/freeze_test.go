package watcher_test

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/btcrpc"
	"github.com/cryptopay/cryptopay/internal/bitcoin/btcsource"
	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/httpapi"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
	"github.com/cryptopay/cryptopay/internal/watcher"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

// bip84Zpub is BIP84's test vector account key (mainnet, account 0): a
// live store's wallet.
const bip84Zpub = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"

// TestFrozenGatewayKeepsCrediting is the issue's "freeze refuses live
// creation but keeps crediting payments", on a real regtest node, both
// engines: a live invoice created before the freeze is paid and mined
// while the gateway is frozen and settles; the settlement's webhook is
// queued for the live endpoint, and a payment in the same freeze reaches
// a real HTTP receiver; a live creation over the API meanwhile is 503
// frozen; unfreeze lets it through again.
//
// The live store watches the regtest node through a source configured for
// Bitcoin mainnet: the node's chain has regtest's rules, but blocks carry
// witness programs, not address strings, so the gateway sees payments to
// its bc1 addresses exactly as on mainnet, and the test wallet pays the
// same witness program under regtest's bcrt1 encoding.
//
// The live endpoint itself cannot be a local receiver: live deliveries are
// HTTPS to public addresses only (SSRF guard), so its delivery is
// asserted queued and attempted during the freeze, and the real receiver
// is the test-mode store's, whose invoice is paid in the same freeze and
// whose invoice.settled arrives.
func TestFrozenGatewayKeepsCrediting(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		h := newHarness(t, db, fundBlocks)
		testW := h.w
		liveW := h.watcherOn(mainnetSourceOn(t, h.node), time.Second)
		steps := func() {
			t.Helper()
			for _, w := range []*watcher.Watcher{testW, liveW} {
				if err := w.Step(h.ctx); err != nil {
					t.Fatalf("Step: %v", err)
				}
			}
		}
		steps()

		ctx := gateway.WithActor(h.ctx, gateway.Actor{Operator: gateway.OperatorActor})
		live, err := h.svc.CreateStore(ctx, gateway.StoreParams{Name: "live shop", Livemode: true,
			Wallets: []gateway.WalletParams{{Network: string(cryptopay.NetworkBitcoin), AccountKey: bip84Zpub}}})
		if err != nil {
			t.Fatal(err)
		}
		lk, err := h.svc.CreateKey(ctx, gateway.KeyParams{StoreID: live.ID, Livemode: true, Name: "shop",
			Scopes: []string{"invoices:read", "invoices:write"}})
		if err != nil {
			t.Fatal(err)
		}

		// Deliveries: a real receiver for the test store; the live store's
		// endpoint is written directly (see above).
		rec := newReceiver(t)
		var key fieldcrypt.Key
		rand.Read(key[:])
		kr, err := fieldcrypt.NewKeyring(key)
		if err != nil {
			t.Fatal(err)
		}
		ws, err := webhook.New(webhook.Config{DB: db, Outbox: outboxOn(db), Keyring: kr, AllowLoopback: true,
			PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := ws.Start(h.ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ws.Stop(t.Context()) })
		if _, _, err := ws.CreateEndpoint(h.ctx, webhook.Owner{StoreID: h.key.StoreID}, webhook.EndpointParams{URL: &rec.srv.URL}); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		liveEP := &cryptopay.WebhookEndpoint{ID: cryptopay.NewID(cryptopay.PrefixEndpoint, now), StoreID: live.ID,
			Livemode: true, URL: "https://shop.example/hook", Enabled: true, Secret: "sealed elsewhere",
			CreatedAt: now, UpdatedAt: now}
		if err := db.InTx(h.ctx, func(tx storage.Tx) error { return tx.CreateWebhookEndpoint(h.ctx, liveEP) }); err != nil {
			t.Fatal(err)
		}

		api := httptest.NewServer(httpapi.New(httpapi.Config{Service: h.svc}).Handler())
		t.Cleanup(api.Close)
		create := func(order string) (int, string) {
			t.Helper()
			req, _ := http.NewRequestWithContext(h.ctx, http.MethodPost, api.URL+"/v1/invoices",
				strings.NewReader(`{"order_id":"`+order+`","amount":"0.001","currency":"BTC"}`))
			req.Header.Set("Authorization", "Bearer "+lk.Secret)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				ID    string `json:"id"`
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode == http.StatusCreated {
				return resp.StatusCode, body.ID
			}
			return resp.StatusCode, body.Error.Code
		}

		status, liveID := create("before-freeze")
		if status != http.StatusCreated {
			t.Fatalf("live invoice before the freeze: %d %s", status, liveID)
		}
		liveInv := h.get(liveID)
		if !liveInv.Livemode || !strings.HasPrefix(liveInv.Address, "bc1") {
			t.Fatalf("live invoice: livemode %v, address %s", liveInv.Livemode, liveInv.Address)
		}
		testInv := h.invoice("test-during-freeze", "0.001", 0)

		if _, err := h.svc.Freeze(ctx, "drill"); err != nil {
			t.Fatal(err)
		}
		if status, code := create("while-frozen"); status != http.StatusServiceUnavailable || code != string(cryptopay.CodeFrozen) {
			t.Fatalf("live creation while frozen: %d %s, want 503 frozen", status, code)
		}

		h.pay(regtestEncoding(t, liveInv.Address), milliBTC, false)
		h.pay(testInv.Address, milliBTC, false)
		steps()
		for range 3 { // 0.001 BTC at 65,000 USD: three confirmations
			h.mine(1)
			steps()
		}
		for _, inv := range []*cryptopay.Invoice{liveInv, testInv} {
			if got := h.get(inv.ID); got.Status != cryptopay.StatusSettled {
				t.Fatalf("invoice %s (live %v) paid while frozen: %s, want settled", inv.ID, inv.Livemode, got.Status)
			}
		}
		if frozen, err := h.svc.Frozen(h.ctx); err != nil || !frozen {
			t.Fatalf("still frozen after crediting: %v %v", frozen, err)
		}

		// The live settlement's webhook is queued for its endpoint...
		ds, _, err := db.ListWebhookDeliveries(h.ctx, storage.WebhookDeliveryFilter{EndpointID: liveEP.ID, Page: storage.Page{Limit: 100}})
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(ds, func(d cryptopay.WebhookDelivery) bool { return d.EventType == cryptopay.EventInvoiceSettled })
		if i < 0 {
			t.Fatalf("live endpoint's deliveries: %d, none for invoice.settled", len(ds))
		}
		// ...and worked during the freeze: an attempt is recorded (refused
		// by the SSRF guard or the placeholder secret, never by the freeze).
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			d, err := db.GetWebhookDelivery(h.ctx, ds[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			if d.Attempts > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the live invoice.settled delivery was not attempted during the freeze: %+v", d)
			}
		}
		// ...and the test store's reaches its real receiver meanwhile.
		deadline := time.Now().Add(20 * time.Second)
		for !rec.has(testInv.ID, string(cryptopay.EventInvoiceSettled)) {
			if time.Now().After(deadline) {
				t.Fatalf("no invoice.settled delivered for %s while frozen; received %d requests", testInv.ID, rec.count())
			}
			time.Sleep(50 * time.Millisecond)
		}

		if n, err := h.svc.Unfreeze(ctx); err != nil || n != 1 {
			t.Fatalf("unfreeze closed %d (%v), want 1", n, err)
		}
		if status, id := create("after-unfreeze"); status != http.StatusCreated {
			t.Fatalf("live creation after unfreeze: %d %s, want 201", status, id)
		}
	})
}

// mainnetSourceOn is a chain source over node that the watcher takes for
// Bitcoin mainnet (see TestFrozenGatewayKeepsCrediting).
func mainnetSourceOn(t *testing.T, node *regtest.Node) *btcsource.Source {
	client, err := btcrpc.New(btcrpc.Config{URL: node.RPCURL(), User: node.RPCUser(), Password: node.RPCPassword(), Params: &chaincfg.MainNetParams})
	if err != nil {
		t.Fatal(err)
	}
	return btcsource.New(client, cryptopay.NetworkBitcoin)
}

// regtestEncoding returns the regtest address of a mainnet P2WPKH
// address's witness program.
func regtestEncoding(t *testing.T, mainnet string) string {
	a, err := address.DecodeAddress(mainnet, &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	w, ok := a.(*address.AddressWitnessPubKeyHash)
	if !ok {
		t.Fatalf("%s is not P2WPKH", mainnet)
	}
	r, err := address.NewAddressWitnessPubKeyHash(w.WitnessProgram(), regtest.Params)
	if err != nil {
		t.Fatal(err)
	}
	return r.EncodeAddress()
}

// receiver is a webhook receiver recording each delivery's type and
// invoice.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string // "type invoice_id"
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var ev struct {
			Type string `json:"type"`
			Data struct {
				InvoiceID string `json:"invoice_id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(b, &ev)
		r.mu.Lock()
		r.seen = append(r.seen, ev.Type+" "+ev.Data.InvoiceID)
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) has(invoiceID, typ string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.seen {
		if s == typ+" "+invoiceID {
			return true
		}
	}
	return false
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}
