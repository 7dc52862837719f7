package dashboard_test

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/account"
	"github.com/cryptopay/cryptopay/internal/dashboard"
	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/httpapi"
	"github.com/cryptopay/cryptopay/internal/password"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

const testPassword = "correct horse battery"

// world is a running gateway (API server with the dashboard) over a real
// SQLite or PostgreSQL database, with two test stores.
type world struct {
	t      testing.TB
	db     storage.DB
	svc    *gateway.Service
	wh     *webhook.Service
	srv    *httptest.Server
	a, b   *cryptopay.Store
	stores uint32
}

func vpub(t testing.TB, n uint32) string {
	seed, err := pbkdf2.Key(sha512.New, "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", []byte("mnemonic"), 2048, 64)
	if err != nil {
		t.Fatal(err)
	}
	_, pub, err := account.DeriveAccountFromSeed(seed, account.Regtest, n)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func newWorld(t testing.TB, open func(testing.TB) storage.DB) *world {
	t.Helper()
	db := open(t)
	ob, err := webhook.NewOutbox(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := gateway.New(gateway.Config{DB: db, Outbox: ob, PasswordParams: password.Params{Memory: 64, Time: 1, Threads: 1}, ReorgLimit: 100})
	var k fieldcrypt.Key
	_, _ = rand.Read(k[:])
	kr, err := fieldcrypt.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	wh, err := webhook.New(webhook.Config{DB: db, Outbox: ob, Keyring: kr, Auditor: svc, Version: "test", AllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{Service: svc, Webhooks: wh, Dashboard: &dashboard.Config{Service: svc, Webhooks: wh,
		Explorer: "https://explorer.example/tx/{txid}"}})
	w := &world{t: t, db: db, svc: svc, wh: wh}
	w.srv = httptest.NewServer(api.Handler())
	t.Cleanup(w.srv.Close)
	w.a, w.b = w.store("Shop A"), w.store("Shop B")
	return w
}

func (w *world) store(name string) *cryptopay.Store {
	w.t.Helper()
	st, err := w.svc.CreateStore(w.opCtx(), gateway.StoreParams{Name: name,
		Wallets: []gateway.WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: vpub(w.t, w.stores)}}})
	if err != nil {
		w.t.Fatal(err)
	}
	w.stores++
	return st
}

func (w *world) opCtx() context.Context {
	return gateway.WithActor(context.Background(), gateway.Actor{Operator: gateway.OperatorActor})
}

// user creates a dashboard user with a second factor and returns its
// TOTP secret.
func (w *world) user(email string, operator bool, grants ...storage.DashboardGrant) string {
	w.t.Helper()
	cu, err := w.svc.CreateUser(w.opCtx(), gateway.UserParams{Email: email, Password: testPassword, Operator: operator, Grants: grants})
	if err != nil {
		w.t.Fatal(err)
	}
	return cu.TOTPSecret
}

// invoice creates an invoice in st through the service, as the API does.
func (w *world) invoice(st *cryptopay.Store, orderID string) *cryptopay.Invoice {
	w.t.Helper()
	ck, err := w.svc.CreateKey(w.opCtx(), gateway.KeyParams{StoreID: st.ID, Name: "shop", Scopes: []string{"invoices:write"}})
	if err != nil {
		w.t.Fatal(err)
	}
	inv, err := w.svc.CreateInvoice(context.Background(), ck.Key, gateway.InvoiceParams{OrderID: orderID, Amount: "0.0015", Currency: "BTC"})
	if err != nil {
		w.t.Fatal(err)
	}
	return inv
}

// browser is a cookie-keeping HTTP client that does not follow redirects,
// so tests see where the dashboard sends them.
type browser struct {
	t    testing.TB
	w    *world
	c    *http.Client
	csrf string
}

func (w *world) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: w.t, w: w, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// hidden returns the value of the page's hidden input name.
func hidden(t testing.TB, body, name string) string {
	t.Helper()
	m := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the page has no %s field", name)
	}
	return m[1]
}

// get fetches path and remembers the page's CSRF token.
func (b *browser) get(path string) (int, string, http.Header) {
	b.t.Helper()
	resp, err := b.c.Get(b.w.srv.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return resp.StatusCode, string(body), resp.Header
}

// post sends a form as the dashboard's pages do: same origin, with the
// remembered CSRF token unless the form sets csrf itself.
func (b *browser) post(path string, form url.Values) (int, string, http.Header) {
	b.t.Helper()
	form = cloneValues(form) // the caller's form is sent again by other users
	if _, ok := form["csrf"]; !ok && b.csrf != "" {
		form.Set("csrf", b.csrf)
	}
	if form.Get("csrf") == "-" {
		form.Del("csrf")
	}
	req, _ := http.NewRequest(http.MethodPost, b.w.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.w.srv.URL)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

// signIn signs in with password and the current TOTP code.
func (b *browser) signIn(email, secret string) {
	b.t.Helper()
	code, hdr := b.postStatus("/dashboard/login", url.Values{"email": {email}, "password": {testPassword}})
	if code != http.StatusSeeOther || hdr.Get("Location") != "/dashboard/login/code" {
		b.t.Fatalf("password step: %d to %q", code, hdr.Get("Location"))
	}
	otpCode, err := totp.GenerateCodeCustom(secret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		b.t.Fatal(err)
	}
	code, hdr = b.postStatus("/dashboard/login/code", url.Values{"code": {otpCode}})
	if code != http.StatusSeeOther || hdr.Get("Location") != "/dashboard/" {
		b.t.Fatalf("code step: %d to %q", code, hdr.Get("Location"))
	}
}

func (b *browser) postStatus(path string, form url.Values) (int, http.Header) {
	code, _, hdr := b.post(path, form)
	return code, hdr
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
