package storagetest

import (
	"math/big"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// testPaymentAsset: a payment's asset and decimals read back as written,
// through GetInvoice and the joined ListInvoices alike; a payment written
// without them reads back without them (the invoice's, see
// cryptopay.Payment.Unit).
func testPaymentAsset(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "assets")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })
	inv := newInvoice(st, 1, "o-asset")
	inv.Network, inv.Asset, inv.Address = cryptopay.NetworkEVMDev, "ETH", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, inv) })
	pays := []cryptopay.Payment{
		{ID: cryptopay.NewID(cryptopay.PrefixPayment, base), InvoiceID: inv.ID, TxID: "0xaa", Vout: 1, Amount: big.NewInt(500_000_000),
			Asset: "USDT", Decimals: 6, Status: cryptopay.PaymentWrongAsset, SeenAt: base},
		{ID: cryptopay.NewID(cryptopay.PrefixPayment, base.Add(time.Second)), InvoiceID: inv.ID, TxID: "0xbb", Vout: 0, Amount: big.NewInt(7),
			Status: cryptopay.PaymentPending, SeenAt: base.Add(time.Second)},
	}
	inTx(t, db, func(tx storage.Tx) error {
		for i := range pays {
			if err := tx.CreatePayment(ctx, &pays[i]); err != nil {
				return err
			}
		}
		return nil
	})
	for i := range pays {
		pays[i].SeenAt = us(pays[i].SeenAt)
	}
	got, err := db.GetInvoice(ctx, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "payments read back", pays, got.Payments)
	listed, _, err := db.ListInvoices(ctx, storage.InvoiceFilter{StoreID: st.ID, Livemode: st.Livemode, Page: storage.Page{Limit: 10}})
	if err != nil || len(listed) != 1 {
		t.Fatalf("listed %d invoices, %v", len(listed), err)
	}
	diff(t, "payments listed", pays, listed[0].Payments)
	if a, d := got.Payments[0].Unit(got); a != "USDT" || d != 6 || got.Payments[0].AmountIn(got) != "500.000000" {
		t.Errorf("wrong_asset payment reads as %s %s (%d decimals), want 500.000000 USDT", got.Payments[0].AmountIn(got), a, d)
	}
}

// testSweepBooks: the sweep candidates are the network's invoices watched
// after the given time, in id order with keyset paging, each with the
// height of its last booked sweep, which only ever rises.
func testSweepBooks(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "sweeps")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })
	var invs []*cryptopay.Invoice
	for i := 1; i <= 3; i++ {
		inv := newInvoice(st, i, "o-sweep-"+string(rune('a'+i)))
		inv.Network, inv.Asset, inv.Address = cryptopay.NetworkEVMDev, "ETH", "0x00000000000000000000000000000000000000a"+string(rune('0'+i))
		invs = append(invs, inv)
		inTx(t, db, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, inv) })
	}
	btc := newInvoice(st, 9, "o-btc") // another network: never a candidate
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, btc) })

	inTx(t, db, func(tx storage.Tx) error { return tx.RecordSweep(ctx, invs[1].ID, 120, "0xs1", base) })
	inTx(t, db, func(tx storage.Tx) error { return tx.RecordSweep(ctx, invs[1].ID, 90, "0xold", base) }) // a replayed older receipt
	list := func(since time.Time, after string, limit int) []storage.SweepCandidate {
		t.Helper()
		cs, err := db.ListSweepCandidates(ctx, cryptopay.NetworkEVMDev, since, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	all := list(base.Add(-time.Hour), "", 10)
	diff(t, "candidates", []storage.SweepCandidate{{InvoiceID: invs[0].ID, SweptHeight: 0}, {InvoiceID: invs[1].ID, SweptHeight: 120}, {InvoiceID: invs[2].ID, SweptHeight: 0}}, all)
	diff(t, "second page", []storage.SweepCandidate{{InvoiceID: invs[2].ID, SweptHeight: 0}}, list(base.Add(-time.Hour), invs[1].ID, 10))
	diff(t, "first page of one", []storage.SweepCandidate{{InvoiceID: invs[0].ID, SweptHeight: 0}}, list(base.Add(-time.Hour), "", 1))
	if got := list(base.Add(48*time.Hour), "", 10); len(got) != 0 {
		t.Errorf("candidates watched after their windows ended: %v, want none", got)
	}
	inTx(t, db, func(tx storage.Tx) error { return tx.RecordSweep(ctx, invs[1].ID, 130, "0xs2", base) })
	if got := list(base.Add(-time.Hour), invs[0].ID, 1); len(got) != 1 || got[0].SweptHeight != 130 {
		t.Errorf("after a later sweep: %v, want height 130", got)
	}
	err := db.InTx(ctx, func(tx storage.Tx) error { return tx.RecordSweep(ctx, "inv_missing", 1, "0x", base) })
	if err == nil {
		t.Error("a sweep of an unknown invoice was booked")
	}
}
