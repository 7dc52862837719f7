package evmsource_test

import (
	"context"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/checkout"
	"github.com/cryptopay/cryptopay/internal/evm/sweep"
	"github.com/cryptopay/cryptopay/internal/evm/sweepbook"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// relayCode deploys a contract that sends the ether it is called with on
// to the address in its calldata: CALL(gas, calldataload(0), callvalue,
// 0, 0, 0, 0). A payment through it is an internal transfer: no
// transaction to the deposit address shows it, only its balance.
var relayCode = common.FromHex("600f600c600039600f6000f3" + "6000600060006000346000355af100")

// TestInternalTransferRecordedBySweep: ether a contract forwards to a
// deposit address is invisible to the watcher; the sweep's balance check
// records it as an internal_transfer payment with its event before moving
// it, once per transfer however many rounds look, never while the watcher
// lags the block read, and without changing the invoice's state.
func TestInternalTransferRecordedBySweep(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storageDB) {
		h := newHarness(t, db)
		gasKey, _ := crypto.GenerateKey()
		gasAddr := crypto.PubkeyToAddress(gasKey.PublicKey)
		h.send(h.other, &gasAddr, milliEther(1000), nil, 1)
		relay := crypto.CreateAddress(crypto.PubkeyToAddress(h.other.PublicKey), h.nonces[crypto.PubkeyToAddress(h.other.PublicKey)])
		h.send(h.other, nil, nil, relayCode, 1)
		h.commit()

		inv := h.invoice("internal", "1", "ETH", "ETH")
		viaRelay := func(wei *big.Int) {
			h.send(h.payer, &relay, wei, common.LeftPadBytes(common.HexToAddress(inv.Address).Bytes(), 32), 1)
		}
		h.payETH(inv.Address, milliEther(200)) // a plain transfer: the watcher sees it
		viaRelay(milliEther(300))              // through a contract: it does not
		h.commit()
		h.step()
		before := h.get(inv.ID)
		if before.AmountPaid.Cmp(milliEther(200)) != 0 || len(before.Payments) != 1 {
			t.Fatalf("watcher saw %s in %d payments, want only the plain 0.2 ETH", before.AmountPaid, len(before.Payments))
		}

		book := &sweepbook.Book{DB: h.db, Svc: h.svc, Chain: h.chain, Factory: h.factory, Grace: time.Hour}
		sw, err := sweep.New(h.client, gasKey, sweep.Config{Factory: h.factory, MaxGasPrice: big.NewInt(1000e9),
			Tokens: []sweep.Token{{Symbol: "USDC", Address: h.token}}}, book, nil)
		if err != nil {
			t.Fatal(err)
		}
		var gasNonce uint64
		round := func() (sweep.Result, error) {
			t.Helper()
			targets, err := book.SweepTargets(h.ctx)
			if err != nil {
				t.Fatal(err)
			}
			res, err := sw.Sweep(h.ctx, targets)
			gasNonce += uint64(len(res.Batches))
			h.nonces[gasAddr] = gasNonce // commit waits for the pool to hold them
			return res, err
		}
		internal := func() []cryptopay.Payment {
			var out []cryptopay.Payment
			for _, p := range h.get(inv.ID).Payments {
				if p.Status == cryptopay.PaymentInternalTransfer {
					out = append(out, p)
				}
			}
			return out
		}

		// Two rounds at the same block: one payment of the 0.3 ETH excess.
		res, err := round()
		if err != nil {
			t.Fatalf("first round: %v", err)
		}
		if _, err := round(); err != nil {
			t.Fatalf("second round at the same block: %v", err)
		}
		got := internal()
		if len(got) != 1 || got[0].Amount.Cmp(milliEther(300)) != 0 || got[0].Asset != "ETH" || got[0].Decimals != 18 {
			t.Fatalf("internal transfers = %+v, want one of 0.3 ETH", got)
		}
		after := h.get(inv.ID)
		if after.Status != before.Status || after.Flags != before.Flags || after.AmountPaid.Cmp(before.AmountPaid) != 0 {
			t.Errorf("invoice after the sweep's record = %s %v paid %s, want it unchanged (%s %v paid %s)",
				after.Status, after.Flags.Names(), after.AmountPaid, before.Status, before.Flags.Names(), before.AmountPaid)
		}
		if n := countOf(h.events(inv.ID), string(cryptopay.EventPaymentInternalTransfer)); n != 1 {
			t.Errorf("%d payment.internal_transfer events, want 1", n)
		}

		// The sweep is mined and booked: the address is empty and expects
		// nothing, so the next round records nothing.
		if len(res.Batches) == 0 {
			t.Fatalf("nothing was swept: %+v", res.Skipped)
		}
		h.commit()
		for _, b := range res.Batches {
			r, err := h.client.TransactionReceipt(h.ctx, b.Tx.Hash())
			if err != nil || r.Status != 1 {
				t.Fatalf("sweep %s: receipt %v, %v", b.Tx.Hash(), r, err)
			}
			if err := book.RecordSwept(h.ctx, b, r); err != nil {
				t.Fatal(err)
			}
		}
		h.step()
		if bal, _ := h.client.BalanceAt(h.ctx, common.HexToAddress(inv.Address), nil); bal.Sign() != 0 {
			t.Fatalf("deposit address holds %s after the sweep", bal)
		}
		if _, err := round(); err != nil {
			t.Fatalf("round after the sweep: %v", err)
		}
		if got := internal(); len(got) != 1 {
			t.Fatalf("internal transfers after the sweep = %d, want still 1", len(got))
		}

		// A second internal transfer, read before the watcher processed
		// its block: not judged (the address waits); then recorded once,
		// for its own 0.1 ETH (not the 0.3 already swept).
		viaRelay(milliEther(100))
		h.commit()
		if _, err := round(); !errors.Is(err, gateway.ErrWatcherBehind) {
			t.Fatalf("round ahead of the watcher: err %v, want ErrWatcherBehind", err)
		}
		if got := internal(); len(got) != 1 {
			t.Fatalf("internal transfers recorded ahead of the watcher: %d, want 1", len(got))
		}
		h.step()
		if _, err := round(); err != nil {
			t.Fatalf("round after the watcher caught up: %v", err)
		}
		got = internal()
		if len(got) != 2 || got[1].Amount.Cmp(milliEther(100)) != 0 {
			t.Fatalf("internal transfers = %+v, want a second of 0.1 ETH", got)
		}
		// The payer's page lists it, and says it waits for the shop.
		if page := checkoutPage(t, h, inv.ID); !strings.Contains(page, "Received through a contract: held for the shop") {
			t.Errorf("checkout page does not show the internal transfer's status:\n%s", page)
		}
	})
}

func countOf(xs []string, x string) int {
	n := 0
	for i := slices.Index(xs, x); i >= 0; i = slices.Index(xs, x) {
		n++
		xs = xs[i+1:]
	}
	return n
}

// TestPeriodicSweeperLeads runs two instances' periodic sweepers (as serve
// does) over one database: one leads, the paid address is swept once to the
// store's receiving address, the sweep is booked, and the invoice's state
// is what the watcher made it.
func TestPeriodicSweeperLeads(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storageDB) {
		h := newHarness(t, db)
		gasKey, _ := crypto.GenerateKey()
		gasAddr := crypto.PubkeyToAddress(gasKey.PublicKey)
		h.send(h.other, &gasAddr, milliEther(1000), nil, 1)
		inv := h.invoice("periodic", "1", "ETH", "ETH")
		h.payETH(inv.Address, milliEther(1000))
		h.commit()
		h.commit()
		h.step()
		before := h.get(inv.ID)

		ctx, cancel := context.WithCancel(h.ctx)
		var wg sync.WaitGroup
		for _, name := range []string{"a", "b"} {
			book := &sweepbook.Book{DB: h.db, Svc: h.svc, Chain: h.chain, Factory: h.factory, Grace: time.Hour}
			sw, err := sweep.New(h.client, gasKey, sweep.Config{Factory: h.factory, MaxGasPrice: big.NewInt(1000e9)}, book, nil)
			if err != nil {
				t.Fatal(err)
			}
			l := &sweepbook.Leader{Book: book, Sweeper: sw, Instance: name, TTL: time.Second, Interval: 50 * time.Millisecond, Poll: 10 * time.Millisecond}
			wg.Go(func() { _ = l.Run(ctx) })
		}
		defer func() { cancel(); wg.Wait() }()

		received := func() *big.Int {
			b, err := h.client.BalanceAt(h.ctx, h.receiver, nil)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		deadline := time.Now().Add(20 * time.Second)
		for received().Cmp(milliEther(1000)) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("receiver holds %s after 20s, want the 1 ETH paid", received())
			}
			time.Sleep(50 * time.Millisecond)
			h.sim.Commit()
		}
		// Let a few more rounds pass: the empty address is not swept again,
		// and the other instance never sent anything.
		for range 5 {
			time.Sleep(60 * time.Millisecond)
			h.sim.Commit()
		}
		if n, _ := h.client.NonceAt(h.ctx, gasAddr, nil); n != 1 {
			t.Errorf("gas key sent %d transactions, want the one sweep", n)
		}
		cands, err := h.db.ListSweepCandidates(h.ctx, h.chain.Network, time.Now().Add(-time.Hour), "", 10)
		if err != nil || len(cands) != 1 || cands[0].SweptHeight == 0 {
			t.Errorf("sweep candidates = %+v, %v; want the invoice with its sweep booked", cands, err)
		}
		after := h.get(inv.ID)
		if after.Status != before.Status || after.Flags != before.Flags || after.AmountPaid.Cmp(before.AmountPaid) != 0 {
			t.Errorf("invoice after sweeping = %s %v, want %s %v", after.Status, after.Flags.Names(), before.Status, before.Flags.Names())
		}
	})
}

// checkoutPage renders the payer's page of invoice id.
func checkoutPage(t *testing.T, h *harness, id string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pay/{id}", checkout.New(h.svc, nil).Page)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/pay/"+id, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("checkout page: status %d", rec.Code)
	}
	return rec.Body.String()
}
