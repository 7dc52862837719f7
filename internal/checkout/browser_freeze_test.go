package checkout_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/checkout"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/httpapi"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/testbrowser"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// freezeView is what the payer sees of a freeze on the live page.
type freezeView struct {
	Notice       string `json:"notice"`
	Message      string `json:"message"`
	NoticeHidden bool   `json:"notice_hidden"`
	PayHidden    bool   `json:"pay_hidden"`
	Address      string `json:"address"`
	Wallet       string `json:"wallet"`
	Updates      int    `json:"updates"`
	Marker       int    `json:"marker"`
}

const freezeJS = `(() => {
	const $ = (id) => document.getElementById(id);
	return {
		notice: $("unavailable").textContent,
		message: $("status-message").textContent,
		notice_hidden: $("unavailable").hidden || $("unavailable").offsetHeight === 0,
		pay_hidden: $("pay").hidden || $("pay").offsetHeight === 0,
		address: $("address").value,
		wallet: $("wallet").getAttribute("href") || "",
		updates: Number($("checkout").getAttribute("data-updates") || 0),
		marker: window.checkoutTestMarker || 0,
	};
})()`

// TestBrowserFreezeHidesPayment: a live invoice's page, open in headless
// Chromium before an incident freeze, shows the "temporarily unavailable"
// notice and stops showing where to pay as soon as the freeze is in
// force, through its live update and without a reload; after unfreeze the
// payment details come back the same way.
func TestBrowserFreezeHidesPayment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chrome := testbrowser.Chromium(t)
	out := testbrowser.Artefacts(t, "checkout")
	ctx := gateway.WithActor(context.Background(), gateway.Actor{Operator: gateway.OperatorActor})
	db := testdb.SQLite(t)
	rs, _ := rates.ParseStatic("BTC_USD=65000.00")
	svc := gateway.New(gateway.Config{DB: db, Outbox: outboxOn(db), Rates: rs})
	st, err := svc.CreateStore(ctx, gateway.StoreParams{Name: "Live Bookshop", Livemode: true,
		Wallets: []gateway.WalletParams{{Network: string(cryptopay.NetworkBitcoin),
			AccountKey: "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"}}})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := svc.CreateKey(ctx, gateway.KeyParams{StoreID: st.ID, Livemode: true, Scopes: []string{"invoices:write"}})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := svc.CreateInvoice(ctx, ck.Key, gateway.InvoiceParams{OrderID: "order-77", Amount: "0.001", Currency: "BTC"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Service: svc}).Handler())
	t.Cleanup(srv.Close)

	bctx := testbrowser.New(t, chrome, 2*time.Minute)
	look := func() freezeView {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[freezeView](freezeJS))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		return v
	}
	waitUntil := func(name string, ok func(freezeView) bool) freezeView {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			v := look()
			if ok(v) {
				return v
			}
			if time.Now().After(deadline) {
				testbrowser.Screenshot(t, bctx, out, "failed-"+name)
				t.Fatalf("%s: the page shows %+v", name, v)
			}
			time.Sleep(100 * time.Millisecond) // polling a browser
		}
	}
	payable := func(v freezeView) bool {
		return v.Updates >= 1 && !v.PayHidden && v.Address == inv.Address && v.Wallet != "" && v.NoticeHidden
	}

	if err := chromedp.Do(bctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(srv.URL+"/pay/"+inv.ID)); err != nil {
		t.Fatal(err)
	}
	waitUntil("before the freeze", payable)
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.checkoutTestMarker = 7`)); err != nil {
		t.Fatal(err)
	}

	if _, err := svc.Freeze(ctx, "drill"); err != nil {
		t.Fatal(err)
	}
	v := waitUntil("during the freeze", func(v freezeView) bool {
		return !v.NoticeHidden && v.Notice == checkout.English.Unavailable && v.PayHidden && v.Address == "" && v.Wallet == "" &&
			v.Message == "" // no "send the exact amount to the address below"
	})
	testbrowser.Screenshot(t, bctx, out, "frozen")
	if v.Marker != 7 {
		t.Fatal("the page reloaded: the freeze must arrive through the live update")
	}

	if _, err := svc.Unfreeze(ctx); err != nil {
		t.Fatal(err)
	}
	if v := waitUntil("after unfreeze", payable); v.Marker != 7 {
		t.Fatal("the page reloaded after unfreeze")
	}
}
