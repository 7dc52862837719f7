package watcher_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/monitor"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
	"github.com/cryptopay/cryptopay/internal/watcher"
)

// The settlement engine's promises against a real btcd, on both engines:
// one test per defect the black-box run found (issue 9).

// Defect 1: a double spend is a fact of the best chain, not a verdict. Pay
// with RBF; on a partition, replace it on the gateway's node and mine the
// original on the other; join. The original wins: the payment is
// reinstated and credited, and the invoice settles.
func TestDoubleSpendUndoneWhenTheOriginalWins(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		h := newHarness(t, db, fundBlocks)
		other := h.partner()
		h.step()
		inv := h.invoice("rbf-partition", "0.001", 0)
		txid := h.pay(inv.Address, milliBTC, true)
		if err := other.WaitMempool(h.ctx, txid, true); err != nil {
			t.Fatal(err)
		}
		h.step()
		h.partition(other)

		thief, _ := h.wallet.Address(997)
		replacement, _, err := h.wallet.Replace(h.ctx, h.node, txid, thief, milliBTC, regtest.Opts{})
		if err != nil {
			t.Fatal(err)
		}
		h.step()
		if p := h.payment(h.get(inv.ID), txid); p.Status != cryptopay.PaymentConflicted || p.ConflictTxID != replacement {
			t.Fatalf("payment replaced in the mempool: %+v; want conflicted by %s", p, replacement)
		}
		h.mine(1) // the replacement, on the gateway's node
		h.step()
		if p := h.payment(h.get(inv.ID), txid); p.Status != cryptopay.PaymentDoubleSpent {
			t.Fatalf("payment after its conflict was mined: %+v", p)
		}
		h.mineOn(other, 2) // the original, on a longer branch
		h.join(other)
		h.step()
		h.mine(1)
		h.step()
		got := h.get(inv.ID)
		p := h.payment(got, txid)
		if p.Status != cryptopay.PaymentConfirmed || p.ConflictTxID != "" || p.Confirmations != 3 {
			t.Fatalf("original after its branch won: %+v", p)
		}
		if got.AmountPaid.Int64() != milliBTC || got.AmountConfirmed.Int64() != milliBTC {
			t.Fatalf("paid %s, confirmed %s; want the payment credited", got.AmountPaid, got.AmountConfirmed)
		}
		// The double spend was undone: it is no failure of the sender.
		if n, err := db.CountAddressFailures(h.ctx, cryptopay.NetworkBitcoinRegtest, p.FromAddress, time.Time{}); err != nil || n != 0 {
			t.Fatalf("failures after the double spend was undone: %d, %v", n, err)
		}
		// Flags keep history: it was double spent on our best chain once.
		wantState(t, got, cryptopay.StatusSettled, "double_spent")
		wantEvents(t, h.events(inv), created, detected, process, cryptopay.EventPaymentConflicted, dspent,
			cryptopay.EventPaymentReinstated, process, confs, settled)
	})
}

// Defect 2: a reorg above the payment's block changes nothing: no status
// change, no second invoice.settled, no reorged flag, no alert.
func TestReorgAboveThePaymentChangesNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		h := newHarness(t, db, fundBlocks)
		h.step()
		inv := h.invoice("reorg-above", "0.001", 0)
		h.pay(inv.Address, milliBTC, false)
		h.step()
		blocks := h.mine(3)
		h.step()
		wantState(t, h.get(inv.ID), cryptopay.StatusSettled)

		// Replace the tip (two blocks above the payment's) with a longer
		// branch: a one-block reorg.
		if err := h.node.InvalidateBlock(h.ctx, blocks[2]); err != nil {
			t.Fatal(err)
		}
		h.mine(2)
		h.step()
		got := h.get(inv.ID)
		wantState(t, got, cryptopay.StatusSettled)
		if p := got.Payments[0]; p.BlockHash != blocks[0] || p.Confirmations != 4 {
			t.Fatalf("payment after the reorg above it: %+v", p)
		}
		wantEvents(t, h.events(inv), created, detected, process, confs, settled)
		if n := h.alerts.Load(); n != 0 {
			t.Fatalf("%d alerts for a reorg that took nothing away", n)
		}
	})
}

// Defect 3: a fee bump that still pays the invoice is a replacement, not a
// failure: bumped more often than the failure limit, the sender is not
// blocked and nothing is counted against it.
func TestFeeBumpsAreNotFailures(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		h := newHarness(t, db, fundBlocks)
		monitoredWatcher(h, monitor.Rules{FailureLimit: 1})
		h.step()
		inv := h.invoice("bump", "0.001", 0)
		txid := h.pay(inv.Address, milliBTC, true)
		h.step()
		first := txid
		for range 3 {
			next, _, err := h.wallet.Replace(h.ctx, h.node, txid, inv.Address, milliBTC, regtest.Opts{RBF: true})
			if err != nil {
				t.Fatal(err)
			}
			txid = next
			h.step()
		}
		h.mine(3)
		h.step()
		got := h.get(inv.ID)
		wantState(t, got, cryptopay.StatusSettled)
		if p := h.payment(got, first); p.Status != cryptopay.PaymentReplaced {
			t.Fatalf("first payment: %+v; want replaced", p)
		}
		if p := h.payment(got, txid); p.Status != cryptopay.PaymentConfirmed {
			t.Fatalf("last replacement: %+v; want confirmed", p)
		}
		sender := got.Payments[0].FromAddress
		if n, err := db.CountAddressFailures(h.ctx, cryptopay.NetworkBitcoinRegtest, sender, time.Time{}); err != nil || n != 0 {
			t.Fatalf("failures for fee bumps: %d, %v", n, err)
		}
		if _, err := db.GetBlockedAddress(h.ctx, cryptopay.NetworkBitcoinRegtest, sender); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("sender blocked for bumping fees: %v", err)
		}
		replaced := cryptopay.EventPaymentReplaced
		wantEvents(t, h.events(inv), created, detected, process, replaced, detected, replaced, detected, replaced, detected, confs, settled)

		// An underpaid invoice that expires is no failure either.
		under := h.invoice("under", "0.001", time.Minute)
		h.pay(under.Address, milliBTC/2, false)
		h.step()
		h.clock.advance(2 * time.Minute)
		h.step()
		wantState(t, h.get(under.ID), cryptopay.StatusExpired, "paid_partial")
		if n, _ := db.CountAddressFailures(h.ctx, cryptopay.NetworkBitcoinRegtest, sender, time.Time{}); n != 0 {
			t.Fatalf("failures after an underpayment: %d", n)
		}
	})
}

// switchable is a chain source that can be taken down: a node that stops
// answering.
type switchable struct {
	watcher.Source
	down atomic.Bool
}

var errDown = errors.New("node down")

func (s *switchable) Tip(ctx context.Context) (chain.BlockRef, error) {
	if s.down.Load() {
		return chain.BlockRef{}, errDown
	}
	return s.Source.Tip(ctx)
}

func (s *switchable) Mempool(ctx context.Context) ([]string, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Source.Mempool(ctx)
}

// Defect 5: expiry follows what the watcher has seen. The node is down
// past expires_at while an on-time payment is mined: nothing expires until
// the watcher is synced again, and then the payment counts as on time
// (seen_at is its block's time).
func TestNothingExpiresWhileTheNodeIsDown(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		h := newHarness(t, db, fundBlocks)
		src := &switchable{Source: h.source(h.node)}
		h.w = h.watcherOn(src, time.Second)
		h.step()
		inv := h.invoice("down", "0.001", 2*time.Minute)
		src.down.Store(true)
		txid := h.pay(inv.Address, milliBTC, false)
		h.mine(1)
		h.clock.advance(10 * time.Minute)
		if err := h.w.Step(h.ctx); !errors.Is(err, errDown) {
			t.Fatalf("Step with the node down = %v", err)
		}
		wantState(t, h.get(inv.ID), cryptopay.StatusNew)
		// The time-only loop serve runs for unwatched networks leaves a
		// watched network's invoices alone.
		var unwatched []cryptopay.Network
		for _, n := range cryptopay.Networks() {
			if n != cryptopay.NetworkBitcoinRegtest {
				unwatched = append(unwatched, n)
			}
		}
		if n, err := h.svc.AdvanceDue(h.ctx, unwatched); err != nil || n != 0 {
			t.Fatalf("time-only loop moved %d, %v", n, err)
		}
		wantState(t, h.get(inv.ID), cryptopay.StatusNew)

		src.down.Store(false)
		h.step()
		got := h.get(inv.ID)
		wantState(t, got, cryptopay.StatusProcessing)
		if p := h.payment(got, txid); !p.SeenAt.Before(got.ExpiresAt) {
			t.Fatalf("payment seen at %s, expiry %s: its block's time should make it on time", p.SeenAt, got.ExpiresAt)
		}
		wantEvents(t, h.events(inv), created, detected, process)
		// An unpaid invoice does expire once the watcher has seen the chain.
		unpaid := h.invoice("unpaid", "0.001", time.Minute)
		h.clock.advance(2 * time.Minute)
		h.step()
		wantState(t, h.get(unpaid.ID), cryptopay.StatusExpired)
	})
}

// Defect 6: a node behind our tip is waited for, not taken for a reorg:
// the watcher is not ready and says why, and nothing changes.
func TestLaggingNodeIsNotAReorg(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		h := newHarness(t, db, fundBlocks)
		lagging := h.partner()
		h.partition(lagging)
		h.step()
		inv := h.invoice("lag", "0.001", 0)
		h.pay(inv.Address, milliBTC, false)
		h.step()
		h.mine(3)
		h.step()
		wantState(t, h.get(inv.ID), cryptopay.StatusSettled)

		// Failover to a node that has not seen the last blocks.
		h.w = h.watcherOn(h.source(lagging), time.Second)
		err := h.w.Step(h.ctx)
		var behind *watcher.NodeBehindError
		if !errors.As(err, &behind) || behind.Node >= behind.Ours {
			t.Fatalf("Step against a lagging node = %v, want NodeBehindError", err)
		}
		wantState(t, h.get(inv.ID), cryptopay.StatusSettled)

		// Running, it reports why it is not ready (/readyz shows Ready).
		ctx, cancel := context.WithCancel(h.ctx)
		done := make(chan struct{})
		go func() { defer close(done); h.w.Run(ctx) }()
		deadline := time.Now().Add(20 * time.Second)
		for err := h.w.Ready(); err == nil || !strings.Contains(err.Error(), "node behind: height"); err = h.w.Ready() {
			if time.Now().After(deadline) {
				t.Fatalf("readiness with a lagging node: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
		h.join(lagging) // it catches up
		h.step()
		got := h.get(inv.ID)
		wantState(t, got, cryptopay.StatusSettled)
		wantEvents(t, h.events(inv), created, detected, process, confs, settled)
		if n := h.alerts.Load(); n != 0 {
			t.Fatalf("%d alerts for a lagging node", n)
		}
	})
}

// Defects 4 and 10: the monitoring window. Money first seen after it is
// recorded as outside_window (not counted, an event and an alert); money
// that was on time but confirms after it settles the invalid invoice,
// flagged confirmed_late.
func TestMonitoringWindow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		h := newHarness(t, db, fundBlocks)
		h.step()
		lateInv := h.invoice("outside", "0.001", time.Minute)
		slow := h.invoice("slow", "0.001", time.Minute)
		h.pay(slow.Address, milliBTC, false)
		h.step()
		wantState(t, h.get(slow.ID), cryptopay.StatusProcessing)

		h.clock.advance(25 * time.Hour) // past both monitoring windows
		h.step()
		wantState(t, h.get(lateInv.ID), cryptopay.StatusExpired)
		wantState(t, h.get(slow.ID), cryptopay.StatusInvalid)

		txid := h.pay(lateInv.Address, milliBTC, false)
		alertsBefore := h.alerts.Load()
		h.step()
		h.mine(3)
		h.step()
		got := h.get(lateInv.ID)
		wantState(t, got, cryptopay.StatusExpired, "outside_window")
		if p := h.payment(got, txid); p.Status != cryptopay.PaymentOutsideWindow || got.AmountPaid.Sign() != 0 {
			t.Fatalf("payment after the window: %+v, paid %s", p, got.AmountPaid)
		}
		if h.alerts.Load() == alertsBefore {
			t.Fatal("no alert for money outside the monitoring window")
		}
		wantEvents(t, h.events(lateInv), created, expired, cryptopay.EventPaymentOutsideWindow)

		got = h.get(slow.ID)
		wantState(t, got, cryptopay.StatusSettled, "confirmed_late")
		wantEvents(t, h.events(slow), created, detected, process, invalid, confs, settled)
	})
}

// Defect 7: a policy may not require more confirmations than the reorg
// limit; one requiring exactly the limit settles when the tracker reports
// the payment final.
func TestPolicyWithinTheReorgLimit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		h := newHarness(t, db, fundBlocks)
		strict := gateway.New(gateway.Config{DB: db, Outbox: outboxOn(db), Now: h.clock.now, ReorgLimit: 10})
		deep, err := cryptopay.ParseConfirmationPolicy("confirmations", "USD", "100.00:10,1000.00:12,24", "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = strict.CreateStore(h.ctx, gateway.StoreParams{Name: "too deep", Confirmations: &deep,
			Wallets: []gateway.WalletParams{{Network: "bitcoin-regtest", AccountKey: h.wallet.AccountPub()}}})
		var ce *cryptopay.Error
		if !errors.As(err, &ce) || ce.Code != cryptopay.CodeInvalid || ce.Param != "confirmations" {
			t.Fatalf("store requiring 24 confirmations with a reorg limit of 10: %v", err)
		}
		atLimit, err := cryptopay.ParseConfirmationPolicy("confirmations", "USD", "100.00:10,10", "")
		if err != nil {
			t.Fatal(err)
		}
		st, err := strict.CreateStore(h.ctx, gateway.StoreParams{Name: "at the limit", Confirmations: &atLimit,
			Wallets: []gateway.WalletParams{{Network: "bitcoin-regtest", AccountKey: h.wallet.AccountPub()}}})
		if err != nil {
			t.Fatal(err)
		}
		ck, err := h.svc.CreateKey(h.ctx, gateway.KeyParams{StoreID: st.ID, Scopes: []string{"invoices:write"}})
		if err != nil {
			t.Fatal(err)
		}
		h.key = ck.Key
		h.step()
		inv := h.invoice("ten", "0.001", 0)
		if inv.RequiredConfirmations != 10 {
			t.Fatalf("required %d", inv.RequiredConfirmations)
		}
		h.pay(inv.Address, milliBTC, false)
		h.step()
		h.mine(10) // the harness's reorg limit: final
		h.step()
		wantState(t, h.get(inv.ID), cryptopay.StatusSettled)
	})
}
