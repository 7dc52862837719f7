package dashboard_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/btcrpc"
	"github.com/cryptopay/cryptopay/internal/bitcoin/btcsource"
	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
	"github.com/cryptopay/cryptopay/internal/dashboard"
	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/httpapi"
	"github.com/cryptopay/cryptopay/internal/password"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testbrowser"
	"github.com/cryptopay/cryptopay/internal/testdb"
	"github.com/cryptopay/cryptopay/internal/watcher"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

// TestBrowserRunsTheShopsDay drives the dashboard in headless Chromium as
// a shop owner would: sign in with password and TOTP, find the invoice a
// real regtest payment settled and its transaction, redeliver its webhook
// to the shop's receiver, create an API key whose secret is shown once,
// change a setting (a refused value first) and resolve an alert.
func TestBrowserRunsTheShopsDay(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a regtest node and a browser")
	}
	chrome := testbrowser.Chromium(t)
	out := testbrowser.Artefacts(t, "dashboard")
	ctx := context.Background()

	// The chain: a btcd regtest node and a funded wallet.
	btcd, err := regtest.BtcdPath(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wallet, err := regtest.NewWallet([]byte("cryptopay dashboard browser seed"), regtest.Params)
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

	// The shop's webhook receiver: counts what arrives.
	var received atomic.Int64
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(shop.Close)

	// The gateway: database, service, webhooks, chain watcher, API server
	// with the dashboard.
	db := testdb.SQLite(t)
	ob, err := webhook.NewOutbox(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := gateway.New(gateway.Config{DB: db, Outbox: ob, PasswordParams: password.Params{Memory: 64, Time: 1, Threads: 1}})
	var key fieldcrypt.Key
	_, _ = rand.Read(key[:])
	kr, _ := fieldcrypt.NewKeyring(key)
	wh, err := webhook.New(webhook.Config{DB: db, Outbox: ob, Keyring: kr, Auditor: svc, Version: "test", AllowLoopback: true,
		PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = wh.Stop(sctx)
	})
	op := gateway.WithActor(ctx, gateway.Actor{Operator: gateway.OperatorActor})
	st, err := svc.CreateStore(op, gateway.StoreParams{Name: "Corner Bookshop",
		Wallets: []gateway.WalletParams{{Network: "bitcoin-regtest", AccountKey: vpub(t, 0)}}})
	if err != nil {
		t.Fatal(err)
	}
	url := shop.URL + "/webhooks"
	types := []string{"invoice.settled"}
	if _, _, err := wh.CreateEndpoint(op, webhook.Owner{StoreID: st.ID}, webhook.EndpointParams{URL: &url, EventTypes: &types}); err != nil {
		t.Fatal(err)
	}
	rpc, err := btcrpc.New(btcrpc.Config{URL: node.RPCURL(), User: node.RPCUser(), Password: node.RPCPassword(), Params: regtest.Params})
	if err != nil {
		t.Fatal(err)
	}
	w := watcher.New(watcher.Config{DB: db, Outbox: ob, Source: btcsource.New(rpc, cryptopay.NetworkBitcoinRegtest), PollInterval: 200 * time.Millisecond})
	svc.OnInvoiceCreated(func(inv *cryptopay.Invoice) { w.Watch(inv.Address, inv.MonitorUntil) })
	runCtx, stopWatcher := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(runCtx) })
	t.Cleanup(func() { stopWatcher(); wg.Wait() })
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Service: svc, Webhooks: wh,
		Dashboard: &dashboard.Config{Service: svc, Webhooks: wh, Explorer: "https://mempool.example/tx/{txid}"}}).Handler())
	t.Cleanup(srv.Close)

	// A paid invoice: paid in full from the wallet, mined as deep as its
	// value requires, settled.
	ck, err := svc.CreateKey(op, gateway.KeyParams{StoreID: st.ID, Scopes: []string{"invoices:write"}})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := svc.CreateInvoice(ctx, ck.Key, gateway.InvoiceParams{OrderID: "order-1042", Amount: "0.001", Currency: "BTC"})
	if err != nil {
		t.Fatal(err)
	}
	txid, _, err := wallet.Pay(ctx, node, inv.Address, inv.CryptoDue.Int64(), regtest.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Mine(ctx, inv.RequiredConfirmations); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got, err := svc.GetInvoice(ctx, nil, inv.ID)
		if err == nil && got.Status == cryptopay.StatusSettled && received.Load() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the invoice never settled with its webhook delivered: %v, %v, %d received", got.Status, err, received.Load())
		}
	}

	// The owner, with a second factor.
	cu, err := svc.CreateUser(op, gateway.UserParams{Email: "owner@bookshop.example", Password: testPassword,
		Grants: []storage.DashboardGrant{{StoreID: st.ID, Role: storage.RoleOwner}}})
	if err != nil {
		t.Fatal(err)
	}

	bctx := testbrowser.New(t, chrome, 3*time.Minute)

	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func() string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	shot := func(name string) { t.Helper(); testbrowser.Screenshot(t, bctx, out, name) }
	// audit runs axe-core on the page when CRYPTOPAY_AXE_CORE names it
	// (CI installs it) and fails on serious or critical findings.
	axeSrc := ""
	if p := os.Getenv("CRYPTOPAY_AXE_CORE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("CRYPTOPAY_AXE_CORE: %v", err)
		}
		axeSrc = string(b)
	}
	audit := func(what string) {
		t.Helper()
		if axeSrc == "" {
			t.Logf("accessibility audit of %s skipped: CRYPTOPAY_AXE_CORE is not set", what)
			return
		}
		found, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](axeSrc+`;axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
			.filter(v => v.impact === "serious" || v.impact === "critical")
			.map(v => v.id + ": " + v.help + " at " + v.nodes.map(n => n.target.join(" ")).join(", ")))`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("axe-core on %s: %v", what, err)
		}
		for _, v := range found {
			t.Errorf("accessibility of %s: %s", what, v)
		}
	}

	// Sign in: password, then the authenticator's code.
	do("open the sign-in page", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(srv.URL+"/dashboard/"), chromedp.WaitVisible("#email"))
	shot("1-sign-in")
	do("password step", chromedp.SendKeys("#email", "owner@bookshop.example"), chromedp.SendKeys("#password", testPassword),
		chromedp.Click("main button[type=submit]"), chromedp.WaitVisible("#code"))
	code, err := totp.GenerateCodeCustom(cu.TOTPSecret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	do("code step", chromedp.SendKeys("#code", code), chromedp.Click("main button[type=submit]"), chromedp.WaitVisible("form.filters"))

	// Find the paid invoice: filter by status, open it, see its transaction.
	do("filter settled", chromedp.SetValue("#status", "settled"), chromedp.Click("form.filters button[type=submit]"),
		chromedp.WaitVisible(`a[href$="`+inv.ID+`"]`))
	shot("2-invoices-settled")
	do("open the invoice", chromedp.Click(`a[href$="`+inv.ID+`"]`), chromedp.WaitVisible("ol.timeline"))
	page := text()
	for _, want := range []string{"settled", "order-1042", txid, "invoice.settled", "0.00100000 BTC"} {
		if !strings.Contains(page, want) {
			t.Errorf("the invoice page does not show %q:\n%s", want, page)
		}
	}
	link, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('a[href^="https://mempool.example/tx/"]')?.href ?? ""`))
	if err != nil || link != "https://mempool.example/tx/"+txid {
		t.Errorf("explorer link %q, %v; want one for %s", link, err, txid)
	}
	shot("3-invoice-paid")

	// Redeliver its webhook from the endpoint's deliveries.
	do("open webhooks", chromedp.Click(`nav a[href$="/webhooks"]`), chromedp.WaitVisible(`td a[href*="/webhooks/"]`),
		chromedp.Click(`td a[href*="/webhooks/"]`), chromedp.WaitVisible(`td a[href*="/deliveries/"]`),
		chromedp.Click(`td a[href*="/deliveries/"]`), chromedp.WaitVisible(`form[action$="/redeliver"] button`))
	shot("4-delivery")
	do("redeliver", chromedp.Click(`form[action$="/redeliver"] button`), chromedp.WaitVisible("h1"))
	for deadline := time.Now().Add(30 * time.Second); received.Load() < 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the redelivery never reached the shop (%d received)", received.Load())
		}
	}

	// Create a key: the secret is shown once, with a copy button.
	do("open keys", chromedp.Click(`nav a[href$="/keys"]`), chromedp.WaitVisible("#name"),
		chromedp.SendKeys("#name", "storefront"), chromedp.Click(`input[value="invoices:write"]`), chromedp.Click(`input[value="invoices:read"]`),
		chromedp.Click(`form[action$="/keys"] button[type=submit]`), chromedp.WaitVisible("#new-secret"))
	secret, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("new-secret").textContent`))
	if err != nil || !strings.HasPrefix(secret, "cp_test_") {
		t.Fatalf("new key secret %q, %v", secret, err)
	}
	if _, err := svc.Authenticate(ctx, secret, netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("the shown secret does not authenticate: %v", err)
	}
	shot("5-key-created")

	// Change a setting: a refused value is shown at its field, then a
	// good one is saved.
	do("open settings", chromedp.Click(`nav a[href$="/settings"]`), chromedp.WaitVisible("#invoice_expiry"),
		chromedp.Clear("#invoice_expiry"), chromedp.SendKeys("#invoice_expiry", "0"),
		chromedp.Click(`form[action$="/settings/general"] button[type=submit]`), chromedp.WaitVisible("#invoice_expiry-error"))
	shot("6-settings-refused")
	audit("settings with a refused value")
	if got, _ := svc.GetStore(ctx, st.ID); got.InvoiceExpiry != cryptopay.DefaultInvoiceExpiry {
		t.Errorf("a refused expiry changed the store to %s", got.InvoiceExpiry)
	}
	do("save settings", chromedp.Clear("#invoice_expiry"), chromedp.SendKeys("#invoice_expiry", "45"),
		chromedp.Click(`form[action$="/settings/general"] button[type=submit]`), chromedp.WaitVisible("p.flash"))
	if got, _ := svc.GetStore(ctx, st.ID); got.InvoiceExpiry != 45*time.Minute {
		t.Errorf("the saved expiry is %s, want 45m", got.InvoiceExpiry)
	}

	// Check a new account key: the confirmation page shows its first
	// address; cancel.
	do("preview a key", chromedp.SendKeys("#account_key", vpub(t, 7)),
		chromedp.Click(`form[action$="/account_key/preview"] button[type=submit]`), chromedp.WaitVisible("#first-address"))
	shot("7-account-key-confirm")
	audit("account key confirmation")
	do("cancel", chromedp.Click(`a[href$="/settings#account-key"]`), chromedp.WaitVisible("#account_key"))
	if got, _ := svc.GetStore(ctx, st.ID); got.Wallets[0].AccountKey != vpub(t, 0) {
		t.Error("a previewed key replaced the store's key")
	}

	// Resolve an alert the monitoring opened on the paid invoice.
	rv := &storage.Review{ID: cryptopay.NewID(gateway.PrefixReview, time.Now()), StoreID: st.ID, InvoiceID: inv.ID, Rule: "high_value",
		Title: "High-value invoice paid", Text: "Invoice order-1042 is worth more than the store's alert threshold.",
		Evidence: storage.ReviewEvidence{Network: string(inv.Network), Address: inv.Address, Asset: "BTC", Amount: "0.001", Currency: "BTC",
			Payments: []storage.EvidencePayment{{TxID: txid, Amount: "0.00100000", FromAddress: "bcrt1qpayer", Status: "confirmed", SeenAt: time.Now()}}},
		Status: storage.ReviewOpen, OpenedAt: time.Now()}
	if err := db.InTx(ctx, func(tx storage.Tx) error { return tx.CreateReview(ctx, rv) }); err != nil {
		t.Fatal(err)
	}
	do("open alerts", chromedp.Click(`nav a[href$="/alerts"]`), chromedp.WaitVisible("#note-"+rv.ID))
	if page := text(); !strings.Contains(page, txid) || !strings.Contains(page, "High-value invoice paid") {
		t.Errorf("the alerts page does not show the review with its transaction:\n%s", page)
	}
	shot("8-alert-open")
	audit("alerts")
	do("resolve", chromedp.SendKeys("#note-"+rv.ID, "Regular customer; order checked."),
		chromedp.Click(`form[action$="/resolve"] button[type=submit]`), chromedp.WaitVisible(`a[aria-current="page"][href$="status=resolved"]`))
	if got, _ := db.GetReview(ctx, rv.ID); got.Status != storage.ReviewResolved || got.Note != "Regular customer; order checked." {
		t.Errorf("review after resolving: %+v", got)
	}
	shot("9-alert-resolved")

	// The security page: incident status, audit log with the changes.
	do("open security", chromedp.Click(`nav a[href$="/security"]`), chromedp.WaitVisible("#incident"))
	if page := text(); !strings.Contains(page, "Not frozen") || !strings.Contains(page, "store.updated") || !strings.Contains(page, "review.resolved") {
		t.Errorf("the security page lacks the incident status or the audit entries:\n%s", page)
	}
	shot("10-security")
	audit("security")

	// At phone width the list and the settings still work.
	do("phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(srv.URL+"/dashboard/stores/"+st.ID+"/invoices"), chromedp.WaitVisible("form.filters"))
	shot("11-invoices-phone")
	do("phone settings", chromedp.Navigate(srv.URL+"/dashboard/stores/"+st.ID+"/settings"), chromedp.WaitVisible("#invoice_expiry"))
	shot("12-settings-phone")
	if wide, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`)); err != nil || wide {
		t.Errorf("the settings page scrolls sideways at phone width (%v)", err)
	}
}
