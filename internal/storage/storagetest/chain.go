package storagetest

import (
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

func testChainState(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	_, err := db.GetChainState(ctx, cryptopay.NetworkBitcoinRegtest)
	wantNotFound(t, "chain state before the first block", err)

	first := &storage.ChainState{Network: cryptopay.NetworkBitcoinRegtest, Height: 101, Hash: "aa", Snapshot: []byte(`{"v":1}`), UpdatedAt: base}
	inTx(t, db, func(tx storage.Tx) error { return tx.PutChainState(ctx, first) })
	next := &storage.ChainState{Network: cryptopay.NetworkBitcoinRegtest, Height: 102, Hash: "bb", Snapshot: []byte{0, 1, 2, 255}, UpdatedAt: base.Add(time.Second)}
	inTx(t, db, func(tx storage.Tx) error { return tx.PutChainState(ctx, next) })
	got, err := db.GetChainState(ctx, cryptopay.NetworkBitcoinRegtest)
	if err != nil {
		t.Fatal(err)
	}
	want := *next
	want.UpdatedAt = us(next.UpdatedAt)
	diff(t, "chain state", &want, got)
	if _, err := db.GetChainState(ctx, cryptopay.NetworkBitcoin); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("another network's state: %v, want not found", err)
	}
}

func testChainPayments(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "chain")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })
	inv := newInvoice(st, 1, "o-1")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, inv) })

	p := &cryptopay.Payment{
		ID: cryptopay.NewID(cryptopay.PrefixPayment, base), InvoiceID: inv.ID, TxID: "ab12", Vout: 3,
		Amount: huge(t), Status: cryptopay.PaymentPending, RBF: true, FromAddress: "bcrt1qsender", SeenAt: base,
	}
	inTx(t, db, func(tx storage.Tx) error { return tx.CreatePayment(ctx, p) })
	dup := *p
	dup.ID = cryptopay.NewID(cryptopay.PrefixPayment, base)
	err := db.InTx(ctx, func(tx storage.Tx) error { return tx.CreatePayment(ctx, &dup) })
	wantConflict(t, err, "payments_tx_vout_invoice_key")

	p.BlockHash, p.BlockHeight, p.Confirmations, p.Status = "beef", 120, 3, cryptopay.PaymentConfirmed
	p.ConfirmedAt = new(base.Add(time.Minute))
	inTx(t, db, func(tx storage.Tx) error {
		locked, err := tx.LockInvoice(ctx, inv.ID)
		if err != nil {
			return err
		}
		if len(locked.Payments) != 1 {
			t.Errorf("locked invoice has %d payments, want 1", len(locked.Payments))
		}
		return tx.UpdatePayment(ctx, p)
	})
	got, err := db.GetInvoice(ctx, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *p
	want.SeenAt, want.ConfirmedAt = us(p.SeenAt), usp(*p.ConfirmedAt)
	diff(t, "payment", []cryptopay.Payment{want}, got.Payments)

	err = db.InTx(ctx, func(tx storage.Tx) error { _, err := tx.LockInvoice(ctx, "inv_missing"); return err })
	wantNotFound(t, "lock of a missing invoice", err)
	missing := *p
	missing.ID = "pay_missing"
	err = db.InTx(ctx, func(tx storage.Tx) error { return tx.UpdatePayment(ctx, &missing) })
	wantNotFound(t, "update of a missing payment", err)

	// A release: written only while the payment is held, read back with
	// who released it and when, kept through the watcher's later updates.
	held := &cryptopay.Payment{ID: cryptopay.NewID(cryptopay.PrefixPayment, base.Add(time.Second)), InvoiceID: inv.ID, TxID: "cd34",
		Amount: big.NewInt(5), Status: cryptopay.PaymentHeld, FromAddress: "bcrt1qblocked", SeenAt: base}
	inTx(t, db, func(tx storage.Tx) error { return tx.CreatePayment(ctx, held) })
	notHeld := *p
	notHeld.ReleasedAt, notHeld.ReleasedBy = new(base), "alice"
	err = db.InTx(ctx, func(tx storage.Tx) error { return tx.ReleasePayment(ctx, &notHeld) })
	wantNotFound(t, "release of a payment that is not held", err)
	otherInvoice := *held
	otherInvoice.InvoiceID, otherInvoice.ReleasedAt, otherInvoice.ReleasedBy = "inv_other", new(base), "alice"
	err = db.InTx(ctx, func(tx storage.Tx) error { return tx.ReleasePayment(ctx, &otherInvoice) })
	wantNotFound(t, "release through another invoice", err)
	held.Status, held.ReleasedAt, held.ReleasedBy = cryptopay.PaymentPending, new(base.Add(2*time.Minute)), "usr_alice"
	inTx(t, db, func(tx storage.Tx) error { return tx.ReleasePayment(ctx, held) })
	err = db.InTx(ctx, func(tx storage.Tx) error { return tx.ReleasePayment(ctx, held) })
	wantNotFound(t, "a second release", err)
	held.Confirmations, held.BlockHash, held.BlockHeight = 1, "f00d", 121
	inTx(t, db, func(tx storage.Tx) error { return tx.UpdatePayment(ctx, held) })
	got, err = db.GetInvoice(ctx, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantHeld := *held
	wantHeld.SeenAt, wantHeld.ReleasedAt = us(held.SeenAt), usp(*held.ReleasedAt)
	diff(t, "released payment", []cryptopay.Payment{want, wantHeld}, got.Payments)
	list, _, err := db.ListInvoices(ctx, storage.InvoiceFilter{StoreID: st.ID, Page: storage.Page{Limit: 10}})
	if err != nil || len(list) != 1 {
		t.Fatalf("list invoices: %d, %v", len(list), err)
	}
	diff(t, "released payment in a list", []cryptopay.Payment{want, wantHeld}, list[0].Payments)
}

func testChainWatchAndDue(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "watch")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })
	var invs []*cryptopay.Invoice
	for i := range 5 {
		inv := newInvoice(st, i, "")
		invs = append(invs, inv)
	}
	invs[3].Status = cryptopay.StatusProcessing
	invs[4].MonitorUntil = base.Add(-time.Hour) // no longer watched, not due
	invs[4].Status = cryptopay.StatusExpired
	inTx(t, db, func(tx storage.Tx) error {
		for _, inv := range invs {
			if err := tx.CreateInvoice(ctx, inv); err != nil {
				return err
			}
		}
		return nil
	})
	now := base.Add(time.Minute)
	var ids []string
	var after int64
	for {
		page, err := db.ListWatchedAddresses(ctx, cryptopay.NetworkBitcoinRegtest, now, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, w := range page {
			ids = append(ids, w.InvoiceID)
			if w.Seq <= after || w.Network != cryptopay.NetworkBitcoinRegtest || w.Address != invs[len(ids)-1].Address {
				t.Errorf("watched %+v after seq %d", w, after)
			}
			after = w.Seq
		}
	}
	diff(t, "watched invoices", []string{invs[0].ID, invs[1].ID, invs[2].ID, invs[3].ID}, ids)
	if other, _ := db.ListWatchedAddresses(ctx, cryptopay.NetworkBitcoin, now, 0, 10); len(other) != 0 {
		t.Errorf("another network lists %d addresses", len(other))
	}

	regtest := []cryptopay.Network{cryptopay.NetworkBitcoinRegtest}
	due, err := db.ListInvoicesDue(ctx, regtest, base.Add(20*time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 3 {
		t.Errorf("due after expiry: %v, want the three new invoices", due)
	}
	due, _ = db.ListInvoicesDue(ctx, regtest, base.Add(25*time.Hour), 10)
	if len(due) != 4 {
		t.Errorf("due after the window: %v, want the three new and the processing invoice", due)
	}
	// Each network's settlement loop sees only its own invoices.
	if other, err := db.ListInvoicesDue(ctx, []cryptopay.Network{cryptopay.NetworkBitcoin}, base.Add(25*time.Hour), 10); err != nil || len(other) != 0 {
		t.Errorf("another network's due invoices: %v, %v", other, err)
	}
	if both, _ := db.ListInvoicesDue(ctx, []cryptopay.Network{cryptopay.NetworkBitcoin, cryptopay.NetworkBitcoinRegtest}, base.Add(25*time.Hour), 10); len(both) != 4 {
		t.Errorf("due on two networks: %v, want 4", both)
	}
	// An invoice made later by an instance whose clock is an hour behind
	// (an older time-ordered id and created_at) still comes after the
	// cursor: the cursor is insertion order, not any instance's clock.
	skewed := newInvoice(st, 9, "")
	skewed.ID = cryptopay.NewID(cryptopay.PrefixInvoice, base.Add(-time.Hour))
	skewed.CreatedAt = base.Add(-time.Hour)
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, skewed) })
	later, err := db.ListWatchedAddresses(ctx, cryptopay.NetworkBitcoinRegtest, now, after, 10)
	if err != nil || len(later) != 1 || later[0].InvoiceID != skewed.ID {
		t.Errorf("watched after the cursor, once a skewed instance made an invoice: %+v, %v; want only %s", later, err, skewed.ID)
	}
}

// testLockInvoiceSerialises checks that LockInvoice makes concurrent
// read-modify-write cycles on one invoice serialise: no update is lost.
func testLockInvoiceSerialises(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "lock")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })
	inv := newInvoice(st, 1, "")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, inv) })
	const n = 8
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			err := db.InTx(ctx, func(tx storage.Tx) error {
				cur, err := tx.LockInvoice(ctx, inv.ID)
				if err != nil {
					return err
				}
				cur.AmountPaid = new(big.Int).Add(cur.AmountPaid, big.NewInt(1))
				return tx.UpdateInvoice(ctx, cur)
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := db.GetInvoice(ctx, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.AmountPaid.Int64() != n {
		t.Errorf("amount paid after %d locked increments = %s", n, got.AmountPaid)
	}
}
