package checkout_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/httpapi"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testbrowser"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// AxeCoreVersion is the axe-core release .ci/run installs from npm; the
// test refuses any other, so an audit result always means the same rules.
const axeCoreVersion = "4.14.1"

// axeCore returns the source of axe-core: $CRYPTOPAY_AXE_CORE, else the
// cache directory .ci/run installs it in. Missing, the audit fails in CI
// and is skipped (with a note) on a developer's machine.
func axeCore(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CRYPTOPAY_AXE_CORE")
	if p == "" {
		cache, err := os.UserCacheDir()
		if err == nil {
			p = filepath.Join(cache, "cryptopay-axe", "node_modules", "axe-core", "axe.min.js")
		}
	}
	b, err := os.ReadFile(p)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("axe-core is not installed (%v); .ci/run installs axe-core@%s with npm", err, axeCoreVersion)
		}
		t.Logf("accessibility audit skipped: axe-core not found (%v); npm install --prefix ~/.cache/cryptopay-axe axe-core@%s", err, axeCoreVersion)
		return ""
	}
	return string(b)
}

// walk is a gateway with one branded store whose invoices are put into
// each state by recording payments and advancing them through the
// domain's state machine (cryptopay.Invoice.Advance), as the settlement
// loop does, on a real database; the chain itself is covered by
// TestBrowserFollowsAPayment.
type walk struct {
	t     *testing.T
	db    storage.DB
	svc   *gateway.Service
	key   *cryptopay.APIKey
	token string
	store *cryptopay.Store
	srv   *httptest.Server
}

func randomTxID(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// record writes payments (new ones, without an id, are created; others
// updated) and advances the invoice at time at, in one transaction.
func (w *walk) record(inv *cryptopay.Invoice, at time.Time, ps ...cryptopay.Payment) {
	w.t.Helper()
	ctx := context.Background()
	err := w.db.InTx(ctx, func(tx storage.Tx) error {
		for i := range ps {
			p := ps[i]
			p.InvoiceID = inv.ID
			if p.ID == "" {
				p.ID = cryptopay.NewID(cryptopay.PrefixPayment, at)
				if p.TxID == "" {
					p.TxID = randomTxID(w.t)
				}
				if p.SeenAt.IsZero() {
					p.SeenAt = at
				}
				if err := tx.CreatePayment(ctx, &p); err != nil {
					return err
				}
				continue
			}
			if err := tx.UpdatePayment(ctx, &p); err != nil {
				return err
			}
		}
		cur, err := tx.LockInvoice(ctx, inv.ID)
		if err != nil {
			return err
		}
		cur.Advance(cur.Payments, at, w.store.ToleranceBasisPoints)
		return tx.UpdateInvoice(ctx, cur)
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// payments returns the invoice's stored payments.
func (w *walk) payments(inv *cryptopay.Invoice) []cryptopay.Payment {
	w.t.Helper()
	cur, err := w.svc.GetInvoice(context.Background(), nil, inv.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	return cur.Payments
}

func (w *walk) invoice(order, usd string) *cryptopay.Invoice {
	w.t.Helper()
	inv, err := w.svc.CreateInvoice(context.Background(), w.key, gateway.InvoiceParams{OrderID: order, Amount: usd, Currency: "USD",
		RedirectURL: "https://shop.example/thanks/" + order, ExpiresIn: 15 * time.Minute})
	if err != nil {
		w.t.Fatal(err)
	}
	return inv
}

func sats(n int64) *big.Int { return big.NewInt(n) }

// scenario is one invoice state the walk shows, and what the page must say.
type scenario struct {
	name    string
	kind    string
	payable bool
	help    bool
	receipt bool
	inv     *cryptopay.Invoice
}

// scenarios puts one invoice into each state a payer can see.
func (w *walk) scenarios() []scenario {
	w.t.Helper()
	pending := func(n, confs int64) cryptopay.Payment {
		p := cryptopay.Payment{Amount: sats(n), Status: cryptopay.PaymentPending, Confirmations: confs}
		if confs > 0 {
			p.BlockHash, p.BlockHeight = strings.Repeat("00", 32), 100
		}
		return p
	}
	confirmed := func(n int64) cryptopay.Payment {
		p := pending(n, 3)
		p.Status = cryptopay.PaymentConfirmed
		return p
	}
	with := func(p cryptopay.Payment, st cryptopay.PaymentStatus, confs int64) cryptopay.Payment {
		p.Status, p.Confirmations = st, confs
		return p
	}
	var out []scenario
	add := func(name, kind string, payable, help, receipt bool, inv *cryptopay.Invoice) {
		out = append(out, scenario{name: name, kind: kind, payable: payable, help: help, receipt: receipt, inv: inv})
	}
	minute := func(inv *cryptopay.Invoice, n int) time.Time {
		return inv.CreatedAt.Add(time.Duration(n) * time.Minute)
	}

	// 65.00 USD at 65,000 USD/BTC is 0.001 BTC (100,000 sats), 3 confirmations.
	inv := w.invoice("new", "65.00")
	add("01-new", "waiting", true, false, false, inv)

	inv = w.invoice("partly-paid", "65.00")
	w.record(inv, minute(inv, 1), pending(40_000, 0))
	add("02-partly-paid", "partial", true, false, false, inv)

	// 1,300.00 USD: 24 confirmations ahead.
	inv = w.invoice("seen", "1300.00")
	w.record(inv, minute(inv, 1), pending(2_000_000, 0))
	add("03-seen", "mempool", false, false, false, inv)

	// 650.00 USD: 12 confirmations.
	inv = w.invoice("confirming", "650.00")
	w.record(inv, minute(inv, 1), pending(1_000_000, 0))
	w.record(inv, minute(inv, 11), with(w.payments(inv)[0], cryptopay.PaymentPending, 1))
	add("04-confirming", "confirming", false, false, false, inv)

	inv = w.invoice("settled", "65.00")
	w.record(inv, minute(inv, 1), pending(100_000, 0))
	w.record(inv, minute(inv, 30), with(w.payments(inv)[0], cryptopay.PaymentConfirmed, 3))
	add("05-settled", "paid", false, false, true, inv)

	inv = w.invoice("overpaid", "65.00")
	w.record(inv, minute(inv, 1), confirmed(125_000))
	add("06-overpaid", "overpaid", false, true, true, inv)

	inv = w.invoice("expired", "65.00")
	w.record(inv, minute(inv, 16))
	add("07-expired", "expired", false, true, false, inv)

	inv = w.invoice("expired-partly-paid", "65.00")
	w.record(inv, minute(inv, 2), pending(40_000, 0))
	w.record(inv, minute(inv, 16))
	add("08-expired-partly-paid", "expired_partial", false, true, false, inv)

	inv = w.invoice("paid-late", "65.00")
	w.record(inv, minute(inv, 16))
	w.record(inv, minute(inv, 20), pending(100_000, 0))
	add("09-paid-late", "paid_late", false, true, false, inv)

	// Paid in full, then a conflicting transaction was mined: the API says
	// new again, with double_spent, and the amount due is the whole price.
	inv = w.invoice("double-spent", "65.00")
	w.record(inv, minute(inv, 1), pending(100_000, 0))
	w.record(inv, minute(inv, 3), with(w.payments(inv)[0], cryptopay.PaymentDoubleSpent, 0))
	add("10-double-spent", "double_spent", true, true, false, inv)

	inv = w.invoice("invalid", "65.00")
	w.record(inv, minute(inv, 1), pending(100_000, 0))
	w.record(inv, inv.MonitorUntil.Add(time.Minute))
	add("11-invalid", "invalid", false, true, false, inv)

	inv = w.invoice("conflicted", "65.00")
	w.record(inv, minute(inv, 1), pending(100_000, 0))
	w.record(inv, minute(inv, 2), with(w.payments(inv)[0], cryptopay.PaymentConflicted, 0))
	add("12-conflicted", "conflicted", true, true, false, inv)

	inv = w.invoice("held", "65.00")
	w.record(inv, minute(inv, 1), cryptopay.Payment{Amount: sats(100_000), Status: cryptopay.PaymentHeld})
	add("13-held", "held", false, true, false, inv)

	inv = w.invoice("outside-window", "65.00")
	w.record(inv, minute(inv, 16))
	w.record(inv, inv.MonitorUntil.Add(time.Hour), cryptopay.Payment{Amount: sats(100_000), Status: cryptopay.PaymentOutsideWindow})
	add("14-outside-window", "outside_window", false, true, false, inv)

	inv = w.invoice("reorged", "65.00")
	w.record(inv, minute(inv, 1), confirmed(100_000))
	w.record(inv, minute(inv, 40), with(w.payments(inv)[0], cryptopay.PaymentReorged, 1))
	add("15-reorged", "reorged", false, false, false, inv)

	inv = w.invoice("closed", "65.00")
	if _, err := w.svc.MarkInvoice(gateway.WithActor(context.Background(), gateway.Actor{Operator: gateway.OperatorActor}), nil, inv.ID,
		cryptopay.StatusInvalid, "customer cancelled by phone"); err != nil {
		w.t.Fatal(err)
	}
	add("16-closed", "closed", false, true, false, inv)
	return out
}

// pageView is what the walk reads from the page.
type pageView struct {
	State, Status, Title, Message string
	Amount                        string
	PayHidden                     bool
	Help, SupportURL, Receipt     bool
	TxLinks                       int
	Updates                       int
	LogoLoaded, QRLoaded          bool
	WalletBg                      string
	Fold                          map[string]bool // element id → fully inside the viewport, unscrolled
	Overflow                      bool            // wider than the viewport
}

const pageViewJS = `(() => {
	const $ = (id) => document.getElementById(id);
	const inView = (id) => {
		const el = $(id);
		if (!el || el.offsetParent === null) return false;
		const r = el.getBoundingClientRect();
		return r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth && r.height > 0;
	};
	const fold = {};
	for (const id of ["status-title", "amount", "countdown", "wallet"]) fold[id] = inView(id);
	return {
		State: $("checkout").getAttribute("data-state"),
		Status: $("checkout").getAttribute("data-status"),
		Title: $("status-title").textContent,
		Message: $("status-message").textContent,
		Amount: $("amount").value,
		PayHidden: $("pay").hidden,
		Help: !!$("help"),
		SupportURL: !!$("support-url") && $("support-url").getAttribute("href") === "https://shop.example/help",
		Receipt: !!$("receipt"),
		TxLinks: document.querySelectorAll("#payments a.txid").length,
		Updates: Number($("checkout").getAttribute("data-updates") || 0),
		LogoLoaded: !!$("logo") && $("logo").complete && $("logo").naturalWidth > 0,
		QRLoaded: $("qr").complete && $("qr").naturalWidth > 0,
		WalletBg: getComputedStyle($("wallet")).backgroundColor,
		Fold: fold,
		Overflow: document.documentElement.scrollWidth > window.innerWidth,
	};
})()`

// axeJS runs the audit and returns the serious and critical violations.
const axeJS = `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
	.filter(v => v.impact === "serious" || v.impact === "critical")
	.map(v => v.id + " (" + v.impact + "): " + v.help + " at " + v.nodes.map(n => n.target.join(" ")).join(", ")))`

// TestBrowserCheckoutStates walks every state a payer can see, in English
// and German, at phone (390×844) and desktop (1280×800) sizes in one
// headless Chromium: the page agrees with the API, says what to do (with
// the store's support link where there is a problem), keeps the amount,
// the time left and "Open in wallet" above the fold, shows the store's
// logo and colour, and passes an axe-core audit with no serious or
// critical violation. Screenshots go to the artefacts directory.
func TestBrowserCheckoutStates(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chrome := testbrowser.Chromium(t)
	out := testbrowser.Artefacts(t, "checkout")
	axeSrc := axeCore(t)
	ctx := context.Background()

	db := testdb.SQLite(t)
	rs, _ := rates.ParseStatic("BTC_USD=65000.00")
	svc := gateway.New(gateway.Config{DB: db, Outbox: outboxOn(db), Rates: rs})
	st, err := svc.CreateStore(ctx, gateway.StoreParams{Name: "Corner Bookshop",
		Wallets: []gateway.WalletParams{{Network: "bitcoin-regtest", AccountKey: "vpub5Y6cjg78GGuNLsaPhmYsiw4gYX3HoQiRBiSwDaBXKUafCt9bNwWQiitDk5VZ5BVxYnQdwoTyXSs2JHRPAgjAvtbBrf8ZhDYe2jWAqvZVnsc"}}})
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	if _, err := svc.UpdateStoreSettings(ctx, st.ID, gateway.StoreSettingsParams{SupportURL: str("https://shop.example/help"),
		SupportEmail: str("help@shop.example"), BrandColor: str("#0a6e3c"), ExplorerTxURL: str("https://explorer.example/tx/{txid}"),
		Logo: testLogo(t)}); err != nil {
		t.Fatal(err)
	}
	ck, err := svc.CreateKey(ctx, gateway.KeyParams{StoreID: st.ID, Scopes: []string{"invoices:read", "invoices:write"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Service: svc}).Handler())
	t.Cleanup(srv.Close)
	w := &walk{t: t, db: db, svc: svc, key: ck.Key, token: ck.Secret, store: st, srv: srv}
	scenarios := w.scenarios()

	bctx := testbrowser.New(t, chrome, 5*time.Minute, chromedp.Flag("hide-scrollbars", true))

	look := func(t *testing.T) pageView {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[pageView](pageViewJS))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		return v
	}
	save := func(t *testing.T, name string, png []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(out, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	audit := func(t *testing.T) {
		t.Helper()
		if axeSrc == "" {
			return
		}
		if _, err := chromedp.Run(bctx, chromedp.Evaluate[any](axeSrc+";undefined")); err != nil {
			t.Fatalf("loading axe-core: %v", err)
		}
		if v, err := chromedp.Run(bctx, chromedp.Evaluate[string](`axe.version`)); err != nil || v != axeCoreVersion {
			t.Fatalf("axe-core version %q, %v; want %s", v, err, axeCoreVersion)
		}
		found, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](axeJS, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("running axe-core: %v", err)
		}
		for _, v := range found {
			t.Errorf("accessibility: %s", v)
		}
	}
	brand := "rgb(10, 110, 60)"

	for _, lang := range []string{"en", "de"} {
		for _, sc := range scenarios {
			t.Run(lang+"/"+sc.name, func(t *testing.T) {
				api := w.apiInvoice(t, sc.inv.ID)
				if err := chromedp.Do(bctx, chromedp.EmulateViewport(390, 844),
					chromedp.Navigate(srv.URL+"/pay/"+sc.inv.ID+"?lang="+lang)); err != nil {
					t.Fatal(err)
				}
				v := look(t)
				for deadline := time.Now().Add(10 * time.Second); v.Updates < 1 || (!sc.payable || !v.QRLoaded) && sc.payable || !v.LogoLoaded; v = look(t) {
					if time.Now().After(deadline) {
						t.Fatalf("the stream, the QR code or the logo did not arrive: %+v", v)
					}
					time.Sleep(50 * time.Millisecond) // polling a browser
				}
				phone, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
				if err != nil {
					t.Fatal(err)
				}
				save(t, lang+"-"+sc.name+"-phone", phone)

				// What the page says agrees with the API.
				if v.State != sc.kind || v.Status != api.Status || v.PayHidden == sc.payable {
					t.Errorf("page shows %s (status %s, payable %v); want %s, the API's status %s, payable %v",
						v.State, v.Status, !v.PayHidden, sc.kind, api.Status, sc.payable)
				}
				if sc.payable && v.Amount != api.AmountDue {
					t.Errorf("amount to send %s, the API's amount_due %s", v.Amount, api.AmountDue)
				}
				if v.Help != sc.help || v.Help && !v.SupportURL {
					t.Errorf("help shown %v (support link %v), want %v with the store's support page", v.Help, v.SupportURL, sc.help)
				}
				if v.Receipt != sc.receipt || v.TxLinks != len(api.Payments) {
					t.Errorf("receipt %v, %d linked transactions; want receipt %v and %d (the API's payments)", v.Receipt, v.TxLinks, sc.receipt, len(api.Payments))
				}
				if v.Overflow {
					t.Errorf("the page is wider than the phone")
				}
				if lang == "de" && !strings.Contains(v.Title+v.Message, "e") {
					t.Errorf("German page title %q", v.Title)
				}
				// Above the fold on the phone: the state, and while payable the
				// amount, the time left and the wallet button.
				want := []string{"status-title"}
				if sc.payable {
					want = append(want, "amount", "countdown", "wallet")
					if v.WalletBg != brand {
						t.Errorf("wallet button colour %s, want the store's %s", v.WalletBg, brand)
					}
				}
				for _, id := range want {
					if !v.Fold[id] {
						t.Errorf("#%s is not visible without scrolling at 390×844", id)
					}
				}
				audit(t)
				if lang == "en" || sc.receipt || sc.name == "10-double-spent" {
					full, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
					if err != nil {
						t.Fatal(err)
					}
					save(t, lang+"-"+sc.name+"-phone-full", full)
				}

				if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 800)); err != nil {
					t.Fatal(err)
				}
				v = look(t)
				if sc.payable && (!v.Fold["countdown"] || !v.Fold["wallet"] || !v.Fold["amount"]) {
					t.Errorf("on the desktop the amount, the countdown and the wallet button must show without scrolling: %v", v.Fold)
				}
				if v.Overflow {
					t.Errorf("the page is wider than the desktop window")
				}
				desk, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatal(err)
				}
				save(t, lang+"-"+sc.name+"-desktop", desk)
				if sc.receipt {
					printView(t, bctx, func(png []byte) { save(t, lang+"-"+sc.name+"-print", png) })
				}
				if lang == "en" {
					audit(t) // the two-column layout has its own structure
				}
			})
		}
	}
	t.Logf("screenshots in %s", out)
}

// printView checks the page as printed (CSS media "print"): the receipt
// and the transactions are there, the payment form, buttons and language
// links are not.
func printView(t *testing.T, bctx context.Context, save func([]byte)) {
	t.Helper()
	media := func(m string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: m})
			return err
		})
	}
	if err := chromedp.Do(bctx, media("print")); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = chromedp.Do(bctx, media("")) }()
	shown, err := chromedp.Run(bctx, chromedp.Evaluate[map[string]bool](`(() => {
		const vis = (sel) => { const el = document.querySelector(sel); return !!el && getComputedStyle(el).display !== "none" && el.getClientRects().length > 0; };
		return {receipt: vis("#receipt"), payments: vis("#payments"), print: vis("button[data-print]"), redirect: vis("#redirect"), langs: vis(".langs")};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if !shown["receipt"] || !shown["payments"] || shown["print"] || shown["redirect"] || shown["langs"] {
		t.Errorf("printed page shows %v; want the receipt and payments only", shown)
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	save(png)
}

// apiInvoiceBody is the invoice as the API shows it to the shop.
type apiInvoiceBody struct {
	Status    string   `json:"status"`
	Flags     []string `json:"flags"`
	AmountDue string   `json:"amount_due"`
	Payments  []struct {
		TxID string `json:"tx_id"`
	} `json:"payments"`
}

func (w *walk) apiInvoice(t *testing.T, id string) apiInvoiceBody {
	t.Helper()
	req, _ := http.NewRequest("GET", w.srv.URL+"/v1/invoices/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+w.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b apiInvoiceBody
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/invoices/%s: %d, %v", id, resp.StatusCode, err)
	}
	return b
}

// testLogo draws a small two-colour logo.
func testLogo(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 120, 40))
	for x := range 120 {
		for y := range 40 {
			c := color.RGBA{10, 110, 60, 255}
			if (x/10+y/10)%2 == 0 {
				c = color.RGBA{240, 200, 40, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
