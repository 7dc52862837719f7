package checkout_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/btcrpc"
	"github.com/cryptopay/cryptopay/internal/bitcoin/btcsource"
	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
	"github.com/cryptopay/cryptopay/internal/checkout"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/httpapi"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testbrowser"
	"github.com/cryptopay/cryptopay/internal/testdb"
	"github.com/cryptopay/cryptopay/internal/watcher"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

// snapshot is what the payer sees, read from the live page.
type snapshot struct {
	State     string `json:"state"`
	Title     string `json:"title"`
	Message   string `json:"message"`
	Amount    string `json:"amount"`
	Address   string `json:"address"`
	QR        string `json:"qr"`
	QRLoaded  bool   `json:"qr_loaded"`
	Wallet    string `json:"wallet"`
	PayHidden bool   `json:"pay_hidden"`
	Redirect  string `json:"redirect"`
	DoneShown bool   `json:"done_shown"`
	Countdown string `json:"countdown"`
	Updates   int    `json:"updates"`
	Marker    int    `json:"marker"`
	Styled    bool   `json:"styled"`
}

const snapshotJS = `(() => {
	const $ = (id) => document.getElementById(id);
	return {
		state: $("checkout").getAttribute("data-state"),
		title: $("status-title").textContent,
		message: $("status-message").textContent,
		amount: $("amount").value,
		address: $("address").value,
		qr: $("qr").getAttribute("src"),
		qr_loaded: $("qr").complete && $("qr").naturalWidth > 0,
		wallet: $("wallet").getAttribute("href"),
		pay_hidden: $("pay").hidden,
		redirect: $("redirect").getAttribute("href") || "",
		done_shown: !$("done").hidden && $("redirect").offsetHeight > 0,
		countdown: $("countdown").textContent,
		updates: Number($("checkout").getAttribute("data-updates") || 0),
		marker: window.checkoutTestMarker || 0,
		styled: getComputedStyle(document.body).backgroundColor === "rgb(238, 241, 245)",
	};
})()`

// TestBrowserFollowsAPayment loads a real invoice's page in headless
// Chromium, pays it on a regtest node, and watches the page move through
// waiting, partly paid, seen, confirming and paid without a reload, saving
// a screenshot of each state.
func TestBrowserFollowsAPayment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a regtest node and a browser")
	}
	chrome := testbrowser.Chromium(t)
	out := testbrowser.Artefacts(t, "checkout")
	ctx := context.Background()

	// The chain: a btcd regtest node and a funded wallet.
	btcd, err := regtest.BtcdPath(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wallet, err := regtest.NewWallet([]byte("cryptopay checkout browser seed"), regtest.Params)
	if err != nil {
		t.Fatal(err)
	}
	node, err := regtest.Start(ctx, regtest.Options{Dir: t.TempDir(), BtcdPath: btcd, MiningAddress: wallet.MiningAddress()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Stop() })
	if _, err := node.Mine(ctx, 110); err != nil {
		t.Fatal(err)
	}
	if err := wallet.Sync(ctx, node); err != nil {
		t.Fatal(err)
	}

	// The gateway: database, service, store, chain watcher and HTTP server.
	db := testdb.SQLite(t)
	rs, _ := rates.ParseStatic("BTC_USD=65000.00")
	svc := gateway.New(gateway.Config{DB: db, Outbox: outboxOn(db), Rates: rs})
	st, err := svc.CreateStore(ctx, gateway.StoreParams{Name: "Corner Bookshop",
		Wallets: []gateway.WalletParams{{Network: "bitcoin-regtest", AccountKey: "vpub5Y6cjg78GGuNLsaPhmYsiw4gYX3HoQiRBiSwDaBXKUafCt9bNwWQiitDk5VZ5BVxYnQdwoTyXSs2JHRPAgjAvtbBrf8ZhDYe2jWAqvZVnsc"}}})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := svc.CreateKey(ctx, gateway.KeyParams{StoreID: st.ID, Scopes: []string{"invoices:read", "invoices:write"}})
	if err != nil {
		t.Fatal(err)
	}
	rpc, err := btcrpc.New(btcrpc.Config{URL: node.RPCURL(), User: node.RPCUser(), Password: node.RPCPassword(), Params: regtest.Params})
	if err != nil {
		t.Fatal(err)
	}
	w := watcher.New(watcher.Config{DB: db, Outbox: outboxOn(db), Source: btcsource.New(rpc, cryptopay.NetworkBitcoinRegtest), PollInterval: 200 * time.Millisecond})
	svc.OnInvoiceCreated(func(inv *cryptopay.Invoice) { w.Watch(inv.Address, inv.MonitorUntil) })
	runCtx, stopWatcher := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = w.Run(runCtx) }()
	t.Cleanup(func() { stopWatcher(); wg.Wait() })
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Service: svc}).Handler())
	t.Cleanup(srv.Close)

	inv, err := svc.CreateInvoice(ctx, ck.Key, gateway.InvoiceParams{OrderID: "order-1042", Amount: "65.00", Currency: "USD",
		RedirectURL: "https://shop.example/thanks", ExpiresIn: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if inv.CryptoDue.Int64() != 100_000 || inv.RequiredConfirmations != 3 {
		t.Fatalf("invoice due %s sats, %d confirmations; want 100000 and 3", inv.CryptoDue, inv.RequiredConfirmations)
	}

	// The browser: a phone-sized headless Chromium with a fresh profile.
	bctx := testbrowser.New(t, chrome, 4*time.Minute)

	look := func() snapshot {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Evaluate[snapshot](snapshotJS))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		return s
	}
	shot := func(name string) { t.Helper(); testbrowser.Screenshot(t, bctx, out, name) }
	// waitFor polls the page until it shows state, or fails with what it
	// shows instead (and a screenshot of it).
	waitFor := func(state string) snapshot {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			s := look()
			if s.State == state {
				return s
			}
			if time.Now().After(deadline) {
				shot("failed-waiting-for-" + state)
				t.Fatalf("the page never showed %q; it shows %+v", state, s)
			}
			time.Sleep(100 * time.Millisecond) // polling a browser, not synchronising goroutines
		}
	}
	pay := func(sats int64) {
		t.Helper()
		if _, _, err := wallet.Pay(ctx, node, inv.Address, sats, regtest.Opts{}); err != nil {
			t.Fatal(err)
		}
	}
	mine := func(n int) {
		t.Helper()
		if _, err := node.Mine(ctx, n); err != nil {
			t.Fatal(err)
		}
	}

	if err := chromedp.Do(bctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(srv.URL+"/pay/"+inv.ID)); err != nil {
		t.Fatal(err)
	}
	s := waitFor("waiting")
	if s.Title != checkout.English.Waiting || s.Address != inv.Address || s.Amount != "0.00100000" || s.PayHidden ||
		!strings.Contains(s.QR, "amount=0.00100000") || s.Wallet != "bitcoin:"+inv.Address+"?amount=0.001" {
		t.Fatalf("waiting page: %+v", s)
	}
	// Under the strict CSP the stylesheet applies, the QR code loads, the
	// script runs (the stream's first state is applied) and the countdown
	// ticks.
	for deadline := time.Now().Add(10 * time.Second); !s.Styled || !s.QRLoaded || s.Updates < 1 || !strings.HasPrefix(s.Countdown, "14:"); s = look() {
		if time.Now().After(deadline) {
			t.Fatalf("stylesheet, QR code, stream or countdown not working: %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A marker that a reload would wipe.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.checkoutTestMarker = 7`)); err != nil {
		t.Fatal(err)
	}
	shot("1-waiting")

	pay(40_000)
	s = waitFor("partial")
	if s.Amount != "0.00060000" || !strings.Contains(s.QR, "amount=0.00060000") || !strings.Contains(s.Message, "0.00060000 BTC") ||
		s.Wallet != "bitcoin:"+inv.Address+"?amount=0.0006" || s.PayHidden {
		t.Fatalf("partly paid page: %+v", s)
	}
	for deadline := time.Now().Add(10 * time.Second); !s.QRLoaded; s = look() {
		if time.Now().After(deadline) {
			t.Fatalf("the new QR code did not load: %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	shot("2-partially-paid")

	pay(60_000)
	s = waitFor("mempool")
	if s.Title != checkout.English.Mempool || !s.PayHidden || s.DoneShown {
		t.Fatalf("seen page: %+v", s)
	}
	shot("3-seen-in-mempool")

	mine(1)
	s = waitFor("confirming")
	if !strings.Contains(s.Message, "1 of 3") {
		t.Fatalf("confirming page: %+v", s)
	}
	shot("4-confirming-1-of-3")

	mine(2)
	s = waitFor("paid")
	if s.Title != checkout.English.Paid || !s.DoneShown || s.Redirect != "https://shop.example/thanks" {
		t.Fatalf("paid page: %+v", s)
	}
	shot("5-paid")
	if s.Marker != 7 {
		t.Fatalf("the page reloaded (marker %d): the states must arrive through the stream", s.Marker)
	}
}

// TestServedThroughTheAPIServer checks the checkout as internal/httpapi
// mounts it: the security headers (the strict CSP) on the page, and an
// event stream that flushes through the server's middleware.
func TestServedThroughTheAPIServer(t *testing.T) {
	ctx := context.Background()
	rs, _ := rates.ParseStatic("BTC_USD=65000.00")
	db := testdb.SQLite(t)
	svc := gateway.New(gateway.Config{DB: db, Outbox: outboxOn(db), Rates: rs})
	st, err := svc.CreateStore(ctx, gateway.StoreParams{Name: "Corner Bookshop",
		Wallets: []gateway.WalletParams{{Network: "bitcoin-regtest", AccountKey: "vpub5Y6cjg78GGuNLsaPhmYsiw4gYX3HoQiRBiSwDaBXKUafCt9bNwWQiitDk5VZ5BVxYnQdwoTyXSs2JHRPAgjAvtbBrf8ZhDYe2jWAqvZVnsc"}}})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := svc.CreateKey(ctx, gateway.KeyParams{StoreID: st.ID, Scopes: []string{"invoices:write"}})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := svc.CreateInvoice(ctx, ck.Key, gateway.InvoiceParams{OrderID: "o-1", Amount: "0.001", Currency: "BTC"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Service: svc}).Handler())
	t.Cleanup(srv.Close)

	for _, c := range []struct{ name, path, contentType string }{
		{"page", "/pay/" + inv.ID, "text/html"},
		{"not found page", "/pay/inv_nope", "text/html"},
		{"QR code", "/pay/" + inv.ID + "/qr.svg", "image/svg+xml"},
		{"stylesheet", "/static/checkout/checkout.css", "text/css"},
		{"event stream", "/pay/" + inv.ID + "/events", "text/event-stream"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + c.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			h := resp.Header
			if h.Get("Content-Security-Policy") != "default-src 'self'" || h.Get("X-Content-Type-Options") != "nosniff" ||
				h.Get("X-Frame-Options") != "SAMEORIGIN" || h.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("security headers missing: %v", h)
			}
			if !strings.HasPrefix(h.Get("Content-Type"), c.contentType) {
				t.Errorf("content type %q, want %s", h.Get("Content-Type"), c.contentType)
			}
			if c.contentType == "text/event-stream" {
				line, err := bufio.NewReader(resp.Body).ReadString('\n')
				if err != nil || !strings.HasPrefix(line, "retry:") {
					t.Errorf("stream starts %q, %v", line, err)
				}
			}
		})
	}
}

// outboxOn is the webhook outbox on db that the test's services write
// their events through, as serve wires them.
func outboxOn(db storage.DB) *webhook.Outbox {
	ob, err := webhook.NewOutbox(db, nil)
	if err != nil {
		panic(err)
	}
	return ob
}
