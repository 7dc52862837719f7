package checkout

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// liveZpub is BIP84's test vector account key on mainnet: a live store.
const liveZpub = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"

// TestFreezeWithholdsPaymentDetails, on both engines: a live invoice's
// page, its QR code and every state of its event stream stop giving a
// place to pay as soon as an incident freeze is in force, including on a
// stream opened before the freeze (the live update must not show what the
// first render hides), and give it back after unfreeze; a test-mode
// invoice is not frozen.
func TestFreezeWithholdsPaymentDetails(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		f := newFixtureOn(t, db)
		f.h.poll = 20 * time.Millisecond
		ctx := gateway.WithActor(t.Context(), gateway.Actor{Operator: gateway.OperatorActor})
		st, err := f.svc.CreateStore(ctx, gateway.StoreParams{Name: "Live Bookshop", Livemode: true,
			Wallets: []gateway.WalletParams{{Network: string(cryptopay.NetworkBitcoin), AccountKey: liveZpub}}})
		if err != nil {
			t.Fatal(err)
		}
		lk, err := f.svc.CreateKey(ctx, gateway.KeyParams{StoreID: st.ID, Livemode: true, Scopes: []string{"invoices:write"}})
		if err != nil {
			t.Fatal(err)
		}
		live, err := f.svc.CreateInvoice(ctx, lk.Key, gateway.InvoiceParams{OrderID: "live-1", Amount: "0.001", Currency: "BTC"})
		if err != nil {
			t.Fatal(err)
		}
		test := f.invoice(gateway.InvoiceParams{OrderID: "test-1", Amount: "0.001", Currency: "BTC"})

		type stream struct {
			r     *bufio.Reader
			close func()
		}
		open := func(inv *cryptopay.Invoice) stream {
			t.Helper()
			// A bounded read: a stream that never sends the withheld
			// state fails the test instead of hanging it.
			c := &http.Client{Timeout: 10 * time.Second}
			resp, err := c.Get(f.srv.URL + "/pay/" + inv.ID + "/events")
			if err != nil {
				t.Fatal(err)
			}
			return stream{bufio.NewReader(resp.Body), func() { resp.Body.Close() }}
		}
		next := func(s stream) (State, string) {
			t.Helper()
			for {
				ev, data, _ := readEvent(t, s.r)
				if ev != "state" {
					continue // heartbeats
				}
				var st State
				if err := json.Unmarshal([]byte(data), &st); err != nil {
					t.Fatal(err)
				}
				return st, data
			}
		}
		withheld := func(name string, st State, data string, inv *cryptopay.Invoice) {
			t.Helper()
			if st.Payable || st.Unavailable == "" || st.Address != "" || st.URI != "" || st.QRURL != "" || strings.Contains(data, inv.Address) {
				t.Fatalf("%s: payable %v, notice %q, address %q, uri %q, qr %q; the event carries the address: %v",
					name, st.Payable, st.Unavailable, st.Address, st.URI, st.QRURL, strings.Contains(data, inv.Address))
			}
		}
		payable := func(name string, st State, inv *cryptopay.Invoice) {
			t.Helper()
			if !st.Payable || st.Unavailable != "" || st.Address != inv.Address || st.URI == "" || st.QRURL == "" {
				t.Fatalf("%s: payable %v, notice %q, address %q (want %s)", name, st.Payable, st.Unavailable, st.Address, inv.Address)
			}
		}

		before := open(live)
		defer before.close()
		st0, _ := next(before)
		payable("live stream before the freeze", st0, live)

		if _, err := f.svc.Freeze(ctx, "drill"); err != nil {
			t.Fatal(err)
		}
		st1, data := next(before)
		withheld("the stream opened before the freeze, once frozen", st1, data, live)

		during := open(live)
		defer during.close()
		st2, data := next(during)
		withheld("a stream opened during the freeze", st2, data, live)

		resp, body := f.get("/pay/" + live.ID)
		if resp.StatusCode != 200 || strings.Contains(body, live.Address) || !strings.Contains(body, st2.Unavailable) {
			t.Fatalf("page during the freeze: %d, shows the address %v, shows the notice %v",
				resp.StatusCode, strings.Contains(body, live.Address), strings.Contains(body, st2.Unavailable))
		}
		if resp, _ := f.get("/pay/" + live.ID + "/qr.svg"); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("QR code during the freeze: %d, want 503", resp.StatusCode)
		}

		testStream := open(test)
		defer testStream.close()
		st3, _ := next(testStream)
		payable("a test-mode invoice during the freeze", st3, test)

		if _, err := f.svc.Unfreeze(ctx); err != nil {
			t.Fatal(err)
		}
		st4, _ := next(before)
		payable("the same stream after unfreeze", st4, live)
		if resp, body := f.get("/pay/" + live.ID); resp.StatusCode != 200 || !strings.Contains(body, live.Address) {
			t.Fatalf("page after unfreeze: %d, shows the address %v", resp.StatusCode, strings.Contains(body, live.Address))
		}
		if resp, _ := f.get("/pay/" + live.ID + "/qr.svg"); resp.StatusCode != 200 {
			t.Fatalf("QR code after unfreeze: %d", resp.StatusCode)
		}
	})
}
