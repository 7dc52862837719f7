package watcher_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
	"github.com/cryptopay/cryptopay/internal/tracker"
)

type (
	ev = cryptopay.EventType
)

const (
	created    = cryptopay.EventInvoiceCreated
	detected   = cryptopay.EventInvoicePaymentDetected
	process    = cryptopay.EventInvoiceProcessing
	confs      = cryptopay.EventInvoiceConfirmationsChanged
	settled    = cryptopay.EventInvoiceSettled
	partial    = cryptopay.EventInvoicePaidPartial
	over       = cryptopay.EventInvoicePaidOver
	late       = cryptopay.EventInvoicePaidLate
	expired    = cryptopay.EventInvoiceExpired
	invalid    = cryptopay.EventInvoiceInvalid
	dspent     = cryptopay.EventPaymentDoubleSpent
	reorged    = cryptopay.EventPaymentReorged
	sat        = int64(1)
	milliBTC   = 100_000 * sat
	fundBlocks = 120 // 20 mature coinbases: each payment locks one until it confirms
)

func wantEvents(t *testing.T, got []ev, want ...ev) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n got  %v\n want %v", got, want)
	}
}

func wantState(t *testing.T, inv *cryptopay.Invoice, status cryptopay.Status, flags ...string) {
	t.Helper()
	if inv.Status != status || !slices.Equal(inv.Flags.Names(), append([]string{}, flags...)) {
		t.Fatalf("invoice %s: status %s flags %v; want %s %v", inv.ID, inv.Status, inv.Flags.Names(), status, flags)
	}
}

// TestPayConfirmSettle follows one payment from the mempool to settlement
// on both engines: detected unconfirmed, counted block by block, credited
// only at the required three confirmations.
func TestPayConfirmSettle(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		h := newHarness(t, db, fundBlocks)
		h.step() // starts at the node's tip
		inv := h.invoice("o-1", "0.001", 0)
		if inv.RequiredConfirmations != 3 {
			t.Fatalf("required confirmations = %d, want 3 for about 65 USD", inv.RequiredConfirmations)
		}
		txid := h.pay(inv.Address, milliBTC, false)
		h.step()
		got := h.get(inv.ID)
		wantState(t, got, cryptopay.StatusProcessing)
		if len(got.Payments) != 1 || got.Payments[0].TxID != txid || got.Payments[0].Confirmations != 0 || got.Payments[0].FromAddress == "" {
			t.Fatalf("payments after the mempool: %+v", got.Payments)
		}
		for i := 1; i <= 3; i++ {
			h.mine(1)
			h.step()
			got = h.get(inv.ID)
			if got.Payments[0].Confirmations != int64(i) {
				t.Fatalf("after %d blocks: %d confirmations", i, got.Payments[0].Confirmations)
			}
			if i < 3 && got.Status != cryptopay.StatusProcessing {
				t.Fatalf("credited at %d confirmations: %s", i, got.Status)
			}
		}
		wantState(t, got, cryptopay.StatusSettled)
		if got.AmountConfirmed.Int64() != milliBTC || got.SettledAt == nil {
			t.Fatalf("settled invoice: confirmed %s, settled_at %v", got.AmountConfirmed, got.SettledAt)
		}
		// More blocks change nothing a shop acts on, and a pass with no news
		// writes no event: nothing is duplicated.
		h.mine(2)
		h.step()
		h.step()
		wantEvents(t, h.events(inv), created, detected, process, confs, confs, confs, settled)
	})
}

// TestPartialOverAndLate covers amounts: payments add up, an overpayment
// settles flagged, and money after expiry is recorded and flagged but
// never settles the invoice by itself.
func TestPartialOverAndLate(t *testing.T) {
	h := newHarness(t, testdb.SQLite(t), fundBlocks)
	h.step()

	parts := h.invoice("partial", "0.001", 0)
	h.pay(parts.Address, 40_000, false)
	h.step()
	wantState(t, h.get(parts.ID), cryptopay.StatusNew, "paid_partial")
	h.pay(parts.Address, 60_000, false)
	h.step()
	wantState(t, h.get(parts.ID), cryptopay.StatusProcessing)

	overpaid := h.invoice("over", "0.001", 0)
	h.pay(overpaid.Address, 2*milliBTC, false)
	h.step()
	h.mine(3)
	h.step()
	wantState(t, h.get(parts.ID), cryptopay.StatusSettled)
	wantState(t, h.get(overpaid.ID), cryptopay.StatusSettled, "paid_over")
	// Three blocks read in one pass are one step: one count, 0 → 3.
	wantEvents(t, h.events(overpaid), created, detected, over, process, confs, settled)

	lateInv := h.invoice("late", "0.001", time.Minute)
	h.clock.advance(2 * time.Minute)
	h.step() // a complete pass over the node past expires_at expires it
	wantState(t, h.get(lateInv.ID), cryptopay.StatusExpired)
	h.pay(lateInv.Address, milliBTC, false)
	h.step()
	h.mine(3)
	h.step()
	got := h.get(lateInv.ID)
	wantState(t, got, cryptopay.StatusExpired, "paid_late")
	if got.AmountConfirmed.Int64() != milliBTC {
		t.Fatalf("late money not recorded: %s confirmed", got.AmountConfirmed)
	}
	wantEvents(t, h.events(lateInv), created, expired, detected, late, confs)
}

// TestInvalidAfterMonitoringWindow: paid on time but never confirmed
// before the window ends: invalid. A slow confirmation is not the sender's
// failure: nothing is counted against them.
func TestInvalidAfterMonitoringWindow(t *testing.T) {
	h := newHarness(t, testdb.SQLite(t), fundBlocks)
	h.step()
	inv := h.invoice("stuck", "0.001", 0)
	h.pay(inv.Address, milliBTC, false)
	h.step()
	h.clock.advance(25 * time.Hour)
	h.step()
	got := h.get(inv.ID)
	wantState(t, got, cryptopay.StatusInvalid)
	wantEvents(t, h.events(inv), created, detected, process, invalid)
	n, err := h.db.CountAddressFailures(h.ctx, cryptopay.NetworkBitcoinRegtest, got.Payments[0].FromAddress, time.Time{})
	if err != nil || n != 0 {
		t.Fatalf("failures recorded for the sender: %d, %v; want none for a slow confirmation", n, err)
	}
}

// TestReorgAfterSettlement is a real reversal: a competing branch without
// the payment wins, so the payment's block leaves the best chain. The
// settled invoice goes back to processing flagged reorged, an alert is
// raised, and when the payment is mined again deep enough it settles again
// with an invoice.settled that says resettled.
func TestReorgAfterSettlement(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		h := newHarness(t, db, fundBlocks)
		other := h.partner()
		h.partition(other)
		h.step()
		inv := h.invoice("reorg", "0.001", 0)
		txid := h.pay(inv.Address, milliBTC, false)
		h.step()
		blocks := h.mine(3)
		h.step()
		wantState(t, h.get(inv.ID), cryptopay.StatusSettled)

		h.mineOn(other, 5) // a longer branch without the payment
		h.join(other)
		h.step()
		got := h.get(inv.ID)
		wantState(t, got, cryptopay.StatusProcessing, "reorged")
		if p := h.payment(got, txid); p.Confirmations != 0 || p.Status != cryptopay.PaymentReorged {
			t.Fatalf("payment after its block left the chain: %+v", p)
		}
		if h.alerts.Load() == 0 {
			t.Fatal("no alert for a settled invoice that lost its payment")
		}
		h.mine(3) // the node mines the returned transaction again
		h.step()
		got = h.get(inv.ID)
		wantState(t, got, cryptopay.StatusSettled, "reorged")
		if p := h.payment(got, txid); p.BlockHash == "" || p.BlockHash == blocks[0] {
			t.Fatalf("payment not re-mined in the new branch: %+v", p)
		}
		wantEvents(t, h.events(inv), created, detected, process, confs, settled,
			reorged, process, confs, settled)
		if d := h.eventData(inv, settled); len(d) != 2 || d[0].Resettled || !d[1].Resettled {
			t.Fatalf("settled events: %+v; want the second, only, marked resettled", d)
		}
	})
}

// TestRBFReplacement: a replaceable payment is replaced by one paying
// elsewhere. In the mempool that is a hint: the payment is conflicted (not
// counted, the invoice waits for payment again); once the replacement is
// mined it is double spent.
func TestRBFReplacement(t *testing.T) {
	h := newHarness(t, testdb.SQLite(t), fundBlocks)
	h.step()
	inv := h.invoice("rbf", "0.001", 0)
	txid := h.pay(inv.Address, milliBTC, true)
	h.step()
	got := h.get(inv.ID)
	wantState(t, got, cryptopay.StatusProcessing)
	if !got.Payments[0].RBF {
		t.Fatal("RBF signal not recorded")
	}
	thief, _ := h.wallet.Address(999)
	replacement, _, err := h.wallet.Replace(h.ctx, h.node, txid, thief, milliBTC, regtest.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	h.step()
	h.mine(3)
	h.step()
	got = h.get(inv.ID)
	wantState(t, got, cryptopay.StatusNew, "double_spent")
	if got.Payments[0].Status != cryptopay.PaymentDoubleSpent || got.AmountPaid.Sign() != 0 || got.Payments[0].ConflictTxID != replacement {
		t.Fatalf("replaced payment: %+v, paid %s; want double spent by %s", got.Payments[0], got.AmountPaid, replacement)
	}
	wantEvents(t, h.events(inv), created, detected, process, cryptopay.EventPaymentConflicted, dspent)
}

// TestCompetingChainsDoubleSpend makes two nodes mine competing branches:
// the gateway's node confirms the payment, the other mines a conflicting
// transaction on a longer branch. When they reconnect the payment leaves
// the best chain and is double spent.
func TestCompetingChainsDoubleSpend(t *testing.T) {
	h := newHarness(t, testdb.SQLite(t), fundBlocks)
	other, err := regtest.Start(h.ctx, regtest.Options{Dir: t.TempDir(), BtcdPath: btcd(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Stop()
	if err := h.node.Connect(h.ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := regtest.WaitSameTip(h.ctx, h.node, other); err != nil {
		t.Fatal(err)
	}
	if err := h.node.Disconnect(h.ctx, other); err != nil {
		t.Fatal(err)
	}
	h.step()
	inv := h.invoice("race", "0.001", 0)
	txid := h.pay(inv.Address, milliBTC, false)
	h.mine(1)
	h.step()
	if got := h.get(inv.ID); got.Payments[0].Confirmations != 1 {
		t.Fatalf("payment before the race: %+v", got.Payments[0])
	}
	thief, _ := h.wallet.Address(998)
	if _, _, err := h.wallet.DoubleSpend(h.ctx, other, txid, thief, milliBTC, regtest.Opts{}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Mine(h.ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := h.node.Connect(h.ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := regtest.WaitSameTip(h.ctx, h.node, other); err != nil {
		t.Fatal(err)
	}
	h.step()
	got := h.get(inv.ID)
	wantState(t, got, cryptopay.StatusNew, "double_spent")
	if got.Payments[0].Status != cryptopay.PaymentDoubleSpent {
		t.Fatalf("payment after the losing branch: %+v", got.Payments[0])
	}
	// First seen in a block (one confirmation), so no separate count; the
	// switch to the other branch is one step: double spent.
	wantEvents(t, h.events(inv), created, detected, process, dspent)
}

// TestRestartThroughReorg stops the gateway, reorganises the chain while
// it is down, and starts a new watcher on the same database: the reorg is
// found by re-checking the stored block hashes and handled like any other.
func TestRestartThroughReorg(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		h := newHarness(t, db, fundBlocks)
		h.step()
		inv := h.invoice("restart", "0.001", 0)
		h.pay(inv.Address, milliBTC, false)
		first := h.mine(1)
		h.step()
		before := h.get(inv.ID).Payments[0]

		// Down: the block is replaced and two more are mined.
		if err := h.node.InvalidateBlock(h.ctx, first[0]); err != nil {
			t.Fatal(err)
		}
		h.mine(2)

		h.w = h.newWatcher(time.Second)
		h.step()
		got := h.get(inv.ID)
		p := got.Payments[0]
		if p.BlockHash == before.BlockHash || p.Confirmations != 2 || p.Status != cryptopay.PaymentPending {
			t.Fatalf("payment after restart: %+v (was in %s)", p, before.BlockHash)
		}
		h.mine(1)
		h.step()
		// Re-mined in the first block of the new branch: seen across the
		// switch, the payment never left the chain and nothing reverted.
		wantState(t, h.get(inv.ID), cryptopay.StatusSettled)
		wantEvents(t, h.events(inv), created, detected, process, confs, confs, settled)
	})
}

// TestZeroConfForSmallInvoices: a store that opts in settles small
// invoices at the first block, not on an unconfirmed payment, whether or
// not it signals RBF: under full-RBF (Bitcoin Core 28 and later, and
// miners) a transaction without the BIP125 signal is replaced as easily.
func TestZeroConfForSmallInvoices(t *testing.T) {
	h := newHarness(t, testdb.SQLite(t), fundBlocks)
	policy, err := cryptopay.ParseConfirmationPolicy("confirmations", "USD", "100.00:3,1000.00:12,24", "100.00")
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.svc.CreateStore(h.ctx, gateway.StoreParams{Name: "zero conf", Confirmations: &policy,
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
	plain := h.invoice("zc-plain", "0.001", 0)
	rbf := h.invoice("zc-rbf", "0.001", 0)
	if plain.RequiredConfirmations != 0 {
		t.Fatalf("a 65 USD invoice requires %d confirmations, want 0", plain.RequiredConfirmations)
	}
	h.pay(plain.Address, milliBTC, false)
	h.pay(rbf.Address, milliBTC, true)
	h.step()
	wantState(t, h.get(plain.ID), cryptopay.StatusProcessing)
	wantState(t, h.get(rbf.ID), cryptopay.StatusProcessing)
	h.mine(1)
	h.step()
	wantState(t, h.get(plain.ID), cryptopay.StatusSettled)
	wantState(t, h.get(rbf.ID), cryptopay.StatusSettled)
}

// TestReorgDeeperThanTheLimit: the harness keeps 10 blocks; a reorg that
// replaces 12 stops the watcher from crediting, raises an alert and keeps
// reporting the halt (and so /readyz fails) until an operator acts.
func TestReorgDeeperThanTheLimit(t *testing.T) {
	h := newHarness(t, testdb.SQLite(t), fundBlocks)
	h.step()
	blocks := h.mine(12)
	h.step()
	if err := h.node.InvalidateBlock(h.ctx, blocks[0]); err != nil {
		t.Fatal(err)
	}
	h.mine(13) // a longer branch from before the first of the twelve
	err := h.w.Step(h.ctx)
	if !errors.Is(err, tracker.ErrReorgTooDeep) {
		t.Fatalf("Step over a 12-block reorg = %v, want ErrReorgTooDeep", err)
	}
	if h.alerts.Load() == 0 {
		t.Fatal("no alert for a reorg deeper than the safety limit")
	}
	if err := h.w.Step(h.ctx); !errors.Is(err, tracker.ErrHalted) {
		t.Fatalf("next Step = %v, want ErrHalted: nothing may be credited", err)
	}
}
