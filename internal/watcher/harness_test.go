package watcher_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/btcrpc"
	"github.com/cryptopay/cryptopay/internal/bitcoin/btcsource"
	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/watcher"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

var (
	btcdOnce sync.Once
	btcdPath string
	btcdErr  error
)

// btcd returns the pinned btcd binary, built once per test process.
func btcd(t testing.TB) string {
	btcdOnce.Do(func() { btcdPath, btcdErr = regtest.BtcdPath(context.Background()) })
	if btcdErr != nil {
		t.Fatalf("btcd: %v", btcdErr)
	}
	return btcdPath
}

// testClock is the gateway's and the watcher's clock: real time plus an
// offset the test moves forward to expire invoices.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// harness is one gateway (service + watcher) over a real database and a
// real btcd regtest node with a funded wallet.
type harness struct {
	t      testing.TB
	ctx    context.Context
	db     storage.DB
	node   *regtest.Node
	wallet *regtest.Wallet
	svc    *gateway.Service
	key    *cryptopay.APIKey
	clock  *testClock
	w      *watcher.Watcher
	alerts atomic.Int32
}

// newHarness starts a node, funds the wallet with mined coins, creates a
// test store whose account key is the BIP84 test vector's, and a watcher.
func newHarness(t testing.TB, db storage.DB, blocks int) *harness {
	ctx := context.Background()
	wallet, err := regtest.NewWallet([]byte("cryptopay watcher test seed 0001"), regtest.Params)
	if err != nil {
		t.Fatal(err)
	}
	node, err := regtest.Start(ctx, regtest.Options{Dir: t.TempDir(), BtcdPath: btcd(t), MiningAddress: wallet.MiningAddress()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Stop() })
	if _, err := node.Mine(ctx, blocks); err != nil {
		t.Fatal(err)
	}
	if err := wallet.Sync(ctx, node); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, db: db, node: node, wallet: wallet, clock: &testClock{}}
	rs, _ := rates.ParseStatic("BTC_USD=65000.00")
	h.svc = gateway.New(gateway.Config{DB: db, Outbox: outboxOn(db), Rates: rs, Now: h.clock.now})
	st, err := h.svc.CreateStore(ctx, gateway.StoreParams{
		Name: "watcher test", Wallets: []gateway.WalletParams{{Network: "bitcoin-regtest",
			AccountKey: "vpub5Y6cjg78GGuNLsaPhmYsiw4gYX3HoQiRBiSwDaBXKUafCt9bNwWQiitDk5VZ5BVxYnQdwoTyXSs2JHRPAgjAvtbBrf8ZhDYe2jWAqvZVnsc"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := h.svc.CreateKey(ctx, gateway.KeyParams{StoreID: st.ID, Scopes: []string{"invoices:read", "invoices:write"}})
	if err != nil {
		t.Fatal(err)
	}
	h.key = ck.Key
	h.w = h.newWatcher(time.Second)
	return h
}

// newWatcher returns a fresh watcher over the harness's database and node:
// what a restarted gateway would build.
func (h *harness) newWatcher(poll time.Duration) *watcher.Watcher {
	return h.watcherOn(h.source(h.node), poll)
}

// source is a chain source over node.
func (h *harness) source(node *regtest.Node) watcher.Source {
	client, err := btcrpc.New(btcrpc.Config{URL: node.RPCURL(), User: node.RPCUser(), Password: node.RPCPassword(), Params: regtest.Params})
	if err != nil {
		h.t.Fatal(err)
	}
	return btcsource.New(client, cryptopay.NetworkBitcoinRegtest)
}

// watcherOn returns a fresh watcher over the harness's database reading
// src.
func (h *harness) watcherOn(src watcher.Source, poll time.Duration) *watcher.Watcher {
	w := watcher.New(watcher.Config{
		DB: h.db, Outbox: outboxOn(h.db), Source: src, Now: h.clock.now,
		PollInterval: poll, SafetyLimit: 10,
		Alert: func(context.Context, string, string) { h.alerts.Add(1) },
	})
	h.svc.OnInvoiceCreated(func(inv *cryptopay.Invoice) { w.Watch(inv.Address, inv.MonitorUntil) })
	return w
}

// invoice creates a BTC invoice for amount (about 65 USD for 0.001 BTC, so
// three confirmations are required).
func (h *harness) invoice(order, amount string, expiresIn time.Duration) *cryptopay.Invoice {
	inv, err := h.svc.CreateInvoice(h.ctx, h.key, gateway.InvoiceParams{OrderID: order, Amount: amount, Currency: "BTC", ExpiresIn: expiresIn})
	if err != nil {
		h.t.Fatal(err)
	}
	return inv
}

// step runs one watcher pass, which must succeed.
func (h *harness) step() {
	h.t.Helper()
	if err := h.w.Step(h.ctx); err != nil {
		h.t.Fatalf("Step: %v", err)
	}
}

func (h *harness) mine(n int) []string {
	h.t.Helper()
	hashes, err := h.node.Mine(h.ctx, n)
	if err != nil {
		h.t.Fatal(err)
	}
	return hashes
}

func (h *harness) pay(addr string, sats int64, rbf bool) string {
	h.t.Helper()
	txid, _, err := h.wallet.Pay(h.ctx, h.node, addr, sats, regtest.Opts{RBF: rbf})
	if err != nil {
		h.t.Fatal(err)
	}
	return txid
}

func (h *harness) get(id string) *cryptopay.Invoice {
	h.t.Helper()
	inv, err := h.db.GetInvoice(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return inv
}

// events returns the invoice's event types, oldest first.
func (h *harness) events(inv *cryptopay.Invoice) []cryptopay.EventType {
	h.t.Helper()
	evs, _, err := h.db.ListEvents(h.ctx, storage.EventFilter{StoreID: inv.StoreID, Livemode: false, InvoiceID: inv.ID, Page: storage.Page{Limit: 1000}})
	if err != nil {
		h.t.Fatal(err)
	}
	out := make([]cryptopay.EventType, len(evs))
	for i := range evs {
		out[len(evs)-1-i] = evs[i].Type
	}
	return out
}

// partner starts a second node in sync with the harness's, for partitions
// and competing branches.
func (h *harness) partner() *regtest.Node {
	h.t.Helper()
	other, err := regtest.Start(h.ctx, regtest.Options{Dir: h.t.TempDir(), BtcdPath: btcd(h.t)})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { other.Stop() })
	h.join(other)
	return other
}

// join connects the nodes and waits until they agree on the best chain.
func (h *harness) join(other *regtest.Node) {
	h.t.Helper()
	if err := h.node.Connect(h.ctx, other); err != nil {
		h.t.Fatal(err)
	}
	if _, err := regtest.WaitSameTip(h.ctx, h.node, other); err != nil {
		h.t.Fatal(err)
	}
}

// partition disconnects the nodes.
func (h *harness) partition(other *regtest.Node) {
	h.t.Helper()
	if err := h.node.Disconnect(h.ctx, other); err != nil {
		h.t.Fatal(err)
	}
}

// mineOn mines n blocks on node.
func (h *harness) mineOn(node *regtest.Node, n int) []string {
	h.t.Helper()
	hashes, err := node.Mine(h.ctx, n)
	if err != nil {
		h.t.Fatal(err)
	}
	return hashes
}

// payment returns the invoice's payment in txid.
func (h *harness) payment(inv *cryptopay.Invoice, txid string) cryptopay.Payment {
	h.t.Helper()
	for _, p := range inv.Payments {
		if p.TxID == txid {
			return p
		}
	}
	h.t.Fatalf("invoice %s has no payment in %s: %+v", inv.ID, txid, inv.Payments)
	return cryptopay.Payment{}
}

// eventData returns the data of the invoice's events of type typ, oldest
// first.
func (h *harness) eventData(inv *cryptopay.Invoice, typ cryptopay.EventType) []cryptopay.InvoiceEventData {
	h.t.Helper()
	evs, _, err := h.db.ListEvents(h.ctx, storage.EventFilter{StoreID: inv.StoreID, Livemode: false, InvoiceID: inv.ID, Page: storage.Page{Limit: 1000}})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []cryptopay.InvoiceEventData
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type != typ {
			continue
		}
		var d cryptopay.InvoiceEventData
		if err := json.Unmarshal(evs[i].Data, &d); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// outboxOn is the webhook outbox on db that a test's gateway services and
// watchers write their events through, as serve wires them.
func outboxOn(db storage.DB) *webhook.Outbox {
	ob, err := webhook.NewOutbox(db, nil)
	if err != nil {
		panic(err)
	}
	return ob
}
