package httpapi

// The end-to-end tests start the real server over a real database and
// drive it through the public client package, on SQLite always and on
// PostgreSQL (a fresh schema per test) when CRYPTOPAY_TEST_POSTGRES_URL is
// set; internal/testdb opens the databases.

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/client"
	"github.com/cryptopay/cryptopay/internal/bitcoin/account"
	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

// bip84Mnemonic is the BIP84 test vector's mnemonic; its regtest account
// public key is what every test store derives addresses from.
const bip84Mnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

var bip84Seed = sync.OnceValues(func() ([]byte, error) {
	return pbkdf2.Key(sha512.New, bip84Mnemonic, []byte("mnemonic"), 2048, 64)
})

// regtestVpub returns the regtest account public key of BIP84 account n.
// Every store of a test gets its own account: two stores sharing one
// account key would be handed the same addresses.
func regtestVpub(n uint32) (string, error) {
	seed, err := bip84Seed()
	if err != nil {
		return "", err
	}
	_, pub, err := account.DeriveAccountFromSeed(seed, account.Regtest, n)
	return pub, err
}

// engine opens a fresh, migrated database of one kind for one test.
type engine struct {
	name string
	open func(tb testing.TB) storage.DB
}

func engines() []engine {
	var es []engine
	for _, e := range testdb.Engines() {
		es = append(es, engine{e.Name, e.Open})
	}
	return es
}

// openSQLite is the SQLite engine's opener, for tests that need only one.
func openSQLite(tb testing.TB) storage.DB { return testdb.SQLite(tb) }

// clock is the service's clock: real time plus an offset a test can
// advance, so expiry is tested without sleeping.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// env is one running server with a test-mode store and an all-scopes key.
type env struct {
	t      testing.TB
	engine string
	db     storage.DB
	svc    *gateway.Service
	clock  *clock
	srv    *httptest.Server
	httpc  *http.Client // talks to srv; tests may wrap its transport
	store  *cryptopay.Store
	secret string // all scopes
	key    *cryptopay.APIKey
	c      *client.Client // uses secret
	stores uint32         // how many stores newStore made, for their account numbers
	wh     *webhook.Service
}

func allScopes() []string {
	out := make([]string, len(cryptopay.AllScopes))
	for i, s := range cryptopay.AllScopes {
		out[i] = string(s)
	}
	return out
}

// newEnv starts a server over db with static rates (BTC_USD=65000.00).
func newEnv(tb testing.TB, e engine) *env { return newEnvWith(tb, e, false) }

// newEnvWith is newEnv, with webhooks delivering (River's tables migrated,
// workers started, a short retry schedule) when webhooks is set.
func newEnvWith(tb testing.TB, e engine, webhooks bool) *env {
	tb.Helper()
	db := e.open(tb)
	rs, err := rates.ParseStatic("BTC_USD=65000.00")
	if err != nil {
		tb.Fatal(err)
	}
	clk := &clock{}
	// One outbox for every event the env writes, as serve wires it: the
	// service's events queue their deliveries whether or not this env
	// works the queue.
	ob, err := webhook.NewOutbox(db, clk.now)
	if err != nil {
		tb.Fatal(err)
	}
	svc := gateway.New(gateway.Config{DB: db, Outbox: ob, Rates: rs, Now: clk.now})
	var wh *webhook.Service
	if webhooks {
		wh = startWebhooks(tb, db, ob, svc, clk)
	}
	srv := httptest.NewServer(New(Config{Service: svc, Webhooks: wh, Rates: rs}).Handler())
	tb.Cleanup(srv.Close)
	ev := &env{t: tb, engine: e.name, db: db, svc: svc, clock: clk, srv: srv, httpc: srv.Client(), wh: wh}
	ev.store = ev.newStore("Test shop")
	ev.secret, ev.key = ev.newKey(gateway.KeyParams{Name: "all", Scopes: allScopes()})
	ev.c = ev.client(ev.secret)
	return ev
}

func (e *env) newStore(name string) *cryptopay.Store {
	e.t.Helper()
	e.stores++
	vpub, err := regtestVpub(e.stores - 1)
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := e.svc.CreateStore(context.Background(), gateway.StoreParams{
		Name:    name,
		Wallets: []gateway.WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: vpub}},
	})
	if err != nil {
		e.t.Fatalf("create store: %v", err)
	}
	return st
}

// newKey creates a key in the env's store unless p names another.
func (e *env) newKey(p gateway.KeyParams) (string, *cryptopay.APIKey) {
	e.t.Helper()
	if p.StoreID == "" {
		p.StoreID = e.store.ID
	}
	k, err := e.svc.CreateKey(context.Background(), p)
	if err != nil {
		e.t.Fatalf("create key: %v", err)
	}
	return k.Secret, k.Key
}

func (e *env) client(secret string, opts ...client.Option) *client.Client {
	return client.New(e.srv.URL, secret, append([]client.Option{client.WithHTTPClient(e.httpc)}, opts...)...)
}

// forEachEngine runs f as a subtest per engine, each with a fresh server.
func forEachEngine(t *testing.T, f func(t *testing.T, e *env)) {
	t.Helper()
	forEachEngineWith(t, false, f)
}

// forEachEngineWith is forEachEngine with webhooks delivering if asked.
func forEachEngineWith(t *testing.T, webhooks bool, f func(t *testing.T, e *env)) {
	t.Helper()
	for _, eng := range engines() {
		t.Run(eng.name, func(t *testing.T) {
			t.Parallel()
			f(t, newEnvWith(t, eng, webhooks))
		})
	}
}

// startWebhooks migrates River's tables on db and starts webhook delivery
// through ob with a fresh keyring, the env's clock and retries a few
// hundred milliseconds apart.
func startWebhooks(tb testing.TB, db storage.DB, ob *webhook.Outbox, svc *gateway.Service, clk *clock) *webhook.Service {
	tb.Helper()
	ctx := context.Background()
	var k fieldcrypt.Key
	_, _ = rand.Read(k[:])
	kr, err := fieldcrypt.NewKeyring(k)
	if err != nil {
		tb.Fatal(err)
	}
	wh, err := webhook.New(webhook.Config{DB: db, Outbox: ob, Keyring: kr, Auditor: svc, Now: clk.now, Version: "test", AllowLoopback: true,
		PollInterval: 50 * time.Millisecond, Schedule: webhook.Schedule{Base: 200 * time.Millisecond, Max: time.Second, Window: time.Hour}})
	if err != nil {
		tb.Fatal(err)
	}
	if err := wh.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = wh.Stop(sctx)
	})
	return wh
}

// apiError asserts err is a *client.Error with the given status and code.
func apiError(t testing.TB, err error, status int, code string) *client.Error {
	t.Helper()
	var ae *client.Error
	if !errors.As(err, &ae) {
		t.Fatalf("want a %d %s API error, got %v", status, code, err)
	}
	if ae.Status != status || ae.Code != code {
		t.Fatalf("want %d %s, got %d %s: %s", status, code, ae.Status, ae.Code, ae.Message)
	}
	if !strings.HasPrefix(ae.RequestID, "req_") {
		t.Errorf("error without a request id: %+v", ae)
	}
	return ae
}

// counts is what a failed request must not change.
type counts struct{ invoices, events, keys int }

func (e *env) counts() counts { return e.countsFor(e.t) }

// countsFor is counts reporting failures to tb (a fuzz target's own T).
func (e *env) countsFor(tb testing.TB) counts {
	tb.Helper()
	ctx := context.Background()
	var c counts
	for _, live := range []bool{false, true} {
		after := ""
		for {
			invs, more, err := e.db.ListInvoices(ctx, storage.InvoiceFilter{StoreID: e.store.ID, Livemode: live, Page: storage.Page{Limit: 100, StartingAfter: after}})
			if err != nil {
				tb.Fatalf("count invoices: %v", err)
			}
			c.invoices += len(invs)
			if !more || len(invs) == 0 {
				break
			}
			after = invs[len(invs)-1].ID
		}
		after = ""
		for {
			evs, more, err := e.db.ListEvents(ctx, storage.EventFilter{StoreID: e.store.ID, Livemode: live, Page: storage.Page{Limit: 100, StartingAfter: after}})
			if err != nil {
				tb.Fatalf("count events: %v", err)
			}
			c.events += len(evs)
			if !more || len(evs) == 0 {
				break
			}
			after = evs[len(evs)-1].ID
		}
	}
	keys, err := e.db.ListAPIKeys(ctx, e.store.ID)
	if err != nil {
		tb.Fatalf("count keys: %v", err)
	}
	c.keys = len(keys)
	return c
}

func usdInvoice(order string) client.InvoiceParams {
	return client.InvoiceParams{OrderID: order, Amount: "100.00", Currency: "USD"}
}
