package watcher_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
	"github.com/cryptopay/cryptopay/internal/watcher"
)

// Releasing a held payment (gateway.ReleasePayment) against a real btcd,
// on both engines: the payment is not credited on the operator's word but
// tracked like any other from the release on.

// blockSender blocks address on regtest as an operator would.
func blockSender(h *harness, address string) {
	h.t.Helper()
	now := h.clock.now()
	err := h.db.InTx(h.ctx, func(tx storage.Tx) error {
		return tx.BlockAddress(h.ctx, &storage.BlockedAddress{ID: cryptopay.NewID("blk", now), Network: cryptopay.NetworkBitcoinRegtest,
			Address: address, Reason: "test", BlockedAt: now, BlockedBy: "operator"})
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// heldPayment pays inv from the wallet (whose sender is blocked) and
// returns the payment once the watcher has recorded it held.
func heldPayment(t *testing.T, h *harness, inv *cryptopay.Invoice, rbf bool) cryptopay.Payment {
	t.Helper()
	txid := h.pay(inv.Address, milliBTC, rbf)
	h.step()
	got := h.get(inv.ID)
	wantState(t, got, cryptopay.StatusNew, "held")
	p := h.payment(got, txid)
	if p.Status != cryptopay.PaymentHeld || got.AmountPaid.Sign() != 0 {
		t.Fatalf("payment from a blocked sender: %+v, paid %s; want held, nothing paid", p, got.AmountPaid)
	}
	return p
}

// TestReleasedHeldPaymentSettles: a payment from a blocked sender is held;
// released before it confirms it counts as paid at once but settles the
// invoice only at the invoice's confirmation tier (three blocks here),
// through a restart of the watcher and a rescan; the release is audited,
// retried without effect, and announced by payment.released before the
// settlement.
func TestReleasedHeldPaymentSettles(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		h := newHarness(t, db, fundBlocks)
		h.step()
		blockSender(h, h.wallet.MiningAddress())
		inv := h.invoice("release-settles", "0.001", 0)
		p := heldPayment(t, h, inv, false)

		op := gateway.WithActor(h.ctx, gateway.Actor{Operator: "alice"})
		if _, _, err := h.svc.ReleasePayment(op, nil, inv.ID, p.ID, ""); !isCode(err, cryptopay.CodeInvalid) {
			t.Fatalf("release without a reason: %v; want invalid_request", err)
		}
		got, rp, err := h.svc.ReleasePayment(op, nil, inv.ID, p.ID, "sender verified by phone, ticket 77")
		if err != nil {
			t.Fatal(err)
		}
		if rp.Status != cryptopay.PaymentPending || rp.ReleasedBy != "alice" || rp.ReleasedAt == nil {
			t.Fatalf("released payment: %+v; want pending, released by alice", rp)
		}
		// Paid in full but unconfirmed: processing, held flag gone.
		wantState(t, got, cryptopay.StatusProcessing)
		if got.AmountPaid.Int64() != milliBTC || got.AmountConfirmed.Sign() != 0 {
			t.Fatalf("after release: paid %s confirmed %s", got.AmountPaid, got.AmountConfirmed)
		}
		// A retry changes nothing and emits nothing more.
		if _, again, err := h.svc.ReleasePayment(op, nil, inv.ID, p.ID, "sender verified by phone, ticket 77"); err != nil || !again.ReleasedAt.Equal(*rp.ReleasedAt) {
			t.Fatalf("retried release: %+v, %v", again, err)
		}
		entries, _, err := db.ListAuditEntries(h.ctx, storage.AuditFilter{StoreID: inv.StoreID, Action: gateway.AuditPaymentReleased})
		if err != nil || len(entries) != 1 || entries[0].Actor != "alice" || entries[0].Target != p.ID {
			t.Fatalf("audit entries: %+v, %v; want one payment.released by alice", entries, err)
		}

		// The release is stored, not remembered: a restarted watcher goes
		// on from the stored state, and the sender is still blocked.
		h.w = h.newWatcher(time.Second)
		h.mine(2)
		h.step()
		got = h.get(inv.ID)
		wantState(t, got, cryptopay.StatusProcessing)
		if q := h.payment(got, p.TxID); q.Status != cryptopay.PaymentPending || q.Confirmations != 2 || q.ReleasedBy != "alice" {
			t.Fatalf("released payment two blocks deep: %+v; want pending (3 required), still released", q)
		}
		h.mine(1)
		h.step()
		got = h.get(inv.ID)
		wantState(t, got, cryptopay.StatusSettled)
		if got.AmountConfirmed.Int64() != milliBTC {
			t.Fatalf("settled with %s confirmed", got.AmountConfirmed)
		}
		wantEvents(t, h.events(inv), created, cryptopay.EventPaymentHeld, cryptopay.EventPaymentReleased, process, confs, confs, settled)
		if d := h.eventData(inv, cryptopay.EventPaymentReleased); len(d) != 1 || d[0].Reason != "sender verified by phone, ticket 77" ||
			d[0].PaymentStatus != "pending" || d[0].AmountPaid != "0.00100000" || len(d[0].Flags) != 0 {
			t.Fatalf("payment.released data: %+v", d)
		}
		// A rescan from below the payment's block (`cryptopay chain
		// rescan`) finds it again: matched with the stored payment, still
		// released and credited, tracked on, nothing announced twice.
		q := h.payment(got, p.TxID)
		below, err := h.node.BlockHash(h.ctx, q.BlockHeight-1)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := watcher.RestartSnapshot(chain.BlockRef{Height: q.BlockHeight - 1, Hash: below})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(h.ctx, func(tx storage.Tx) error {
			return tx.PutChainState(h.ctx, &storage.ChainState{Network: cryptopay.NetworkBitcoinRegtest, Height: q.BlockHeight - 1,
				Hash: below, Snapshot: snap, UpdatedAt: h.clock.now()})
		}); err != nil {
			t.Fatal(err)
		}
		h.w = h.newWatcher(time.Second)
		h.mine(1)
		h.step()
		got = h.get(inv.ID)
		wantState(t, got, cryptopay.StatusSettled)
		if q := h.payment(got, p.TxID); q.Status != cryptopay.PaymentConfirmed || q.Confirmations != 4 || q.ReleasedBy != "alice" || len(got.Payments) != 1 {
			t.Fatalf("released payment after a rescan: %+v (%d payments); want confirmed, 4 deep, still released", q, len(got.Payments))
		}
		wantEvents(t, h.events(inv), created, cryptopay.EventPaymentHeld, cryptopay.EventPaymentReleased, process, confs, confs, settled)

		// Still blocked: the next payment from it is held again.
		inv2 := h.invoice("release-then-again", "0.001", 0)
		heldPayment(t, h, inv2, false)
	})
}

// TestReleasedPaymentReorgedOut: a payment released before it confirmed is
// double spent by a longer branch: the invoice is left unpaid, as for any
// payment, and a second release of it is refused.
func TestReleasedPaymentReorgedOut(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		h := newHarness(t, db, fundBlocks)
		other := h.partner()
		h.partition(other)
		h.step()
		blockSender(h, h.wallet.MiningAddress())
		inv := h.invoice("release-reorg", "0.001", 0)
		p := heldPayment(t, h, inv, false)
		op := gateway.WithActor(h.ctx, gateway.Actor{KeyID: h.key.ID})
		if _, _, err := h.svc.ReleasePayment(op, h.key, inv.ID, p.ID, "reviewed"); err != nil {
			t.Fatal(err)
		}
		h.mine(1)
		h.step()
		if q := h.payment(h.get(inv.ID), p.TxID); q.Status != cryptopay.PaymentPending || q.Confirmations != 1 {
			t.Fatalf("released payment in a block: %+v", q)
		}
		thief, _ := h.wallet.Address(996)
		if _, _, err := h.wallet.DoubleSpend(h.ctx, other, p.TxID, thief, milliBTC, regtest.Opts{}); err != nil {
			t.Fatal(err)
		}
		h.mineOn(other, 1)
		h.join(other)
		h.step()
		got := h.get(inv.ID)
		wantState(t, got, cryptopay.StatusNew, "double_spent")
		if q := h.payment(got, p.TxID); q.Status != cryptopay.PaymentDoubleSpent || got.AmountPaid.Sign() != 0 {
			t.Fatalf("released payment after the reorg: %+v, paid %s; want double spent, nothing paid", q, got.AmountPaid)
		}
		wantEvents(t, h.events(inv), created, cryptopay.EventPaymentHeld, cryptopay.EventPaymentReleased, process, confs, dspent)
		// Released once: a retry returns it as it is, emitting nothing.
		if _, q, err := h.svc.ReleasePayment(op, h.key, inv.ID, p.ID, "reviewed"); err != nil || q.Status != cryptopay.PaymentDoubleSpent {
			t.Fatalf("release after the reorg: %+v, %v", q, err)
		}
		if n := len(h.events(inv)); n != 6 {
			t.Fatalf("%d events after a retried release, want 6", n)
		}
	})
}

func isCode(err error, code cryptopay.Code) bool {
	e, ok := errors.AsType[*cryptopay.Error](err)
	return ok && e.Code == code
}
