package storagetest

import (
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

const regtest = cryptopay.NetworkBitcoinRegtest

// testAddressFailures: failures count once each, within a window, per
// (network, address), and age out.
func testAddressFailures(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	fail := func(addr, payment, reason string, at time.Time) bool {
		t.Helper()
		var fresh bool
		inTx(t, db, func(tx storage.Tx) error {
			var err error
			fresh, err = tx.RecordAddressFailure(ctx, &storage.AddressFailure{Network: regtest, Address: addr,
				PaymentID: payment, InvoiceID: "inv_x", Reason: reason, At: at})
			return err
		})
		return fresh
	}
	count := func(network cryptopay.Network, addr string, since time.Time) int {
		t.Helper()
		n, err := db.CountAddressFailures(ctx, network, addr, since)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(regtest, "bcrt1qa", base.Add(-time.Hour)); n != 0 {
		t.Fatalf("failures of an unknown address = %d", n)
	}
	if !fail("bcrt1qa", "pay_1", "double_spent", base) || !fail("bcrt1qa", "pay_2", "double_spent", base.Add(time.Minute)) ||
		!fail("bcrt1qa", "pay_1", "invoice_invalid", base.Add(2*time.Minute)) || !fail("bcrt1qb", "pay_3", "double_spent", base) {
		t.Fatal("a new failure was reported as already recorded")
	}
	if fail("bcrt1qa", "pay_1", "double_spent", base.Add(time.Hour)) {
		t.Error("the same failure recorded twice")
	}
	cases := []struct {
		name    string
		network cryptopay.Network
		addr    string
		since   time.Time
		want    int
	}{
		{"all of one address", regtest, "bcrt1qa", base.Add(-time.Hour), 3},
		{"window starts at the second", regtest, "bcrt1qa", base.Add(time.Minute), 2},
		{"window excludes all", regtest, "bcrt1qa", base.Add(time.Hour), 0},
		{"other address", regtest, "bcrt1qb", base, 1},
		{"other network", cryptopay.NetworkBitcoin, "bcrt1qa", base.Add(-time.Hour), 0},
	}
	for _, tc := range cases {
		if got := count(tc.network, tc.addr, tc.since); got != tc.want {
			t.Errorf("%s: %d failures, want %d", tc.name, got, tc.want)
		}
	}
	var deleted int64
	inTx(t, db, func(tx storage.Tx) error {
		var err error
		deleted, err = tx.DeleteAddressFailures(ctx, base.Add(time.Minute))
		return err
	})
	if deleted != 2 || count(regtest, "bcrt1qa", time.Time{}) != 2 {
		t.Errorf("pruning before the second failure deleted %d, left %d; want 2 and 2", deleted, count(regtest, "bcrt1qa", time.Time{}))
	}
	// A reinstated payment's failures are forgotten; others stay.
	inTx(t, db, func(tx storage.Tx) error { return tx.ForgetPaymentFailures(ctx, regtest, "bcrt1qa", "pay_2") })
	if n := count(regtest, "bcrt1qa", time.Time{}); n != 1 {
		t.Errorf("after forgetting pay_2: %d failures of bcrt1qa, want 1", n)
	}
	inTx(t, db, func(tx storage.Tx) error { return tx.ForgetPaymentFailures(ctx, regtest, "bcrt1qa", "pay_unknown") })
	if n := count(regtest, "bcrt1qa", time.Time{}); n != 1 {
		t.Errorf("forgetting an unknown payment changed bcrt1qa's failures to %d", n)
	}
}

// testBlockedAddresses: block, read, conflict, list per network with
// paging, and unblock (which forgets the address's failures).
func testBlockedAddresses(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	_, err := db.GetBlockedAddress(ctx, regtest, "bcrt1qa")
	wantNotFound(t, "an address never blocked", err)

	var blocks []*storage.BlockedAddress
	for i, a := range []struct {
		network cryptopay.Network
		addr    string
	}{{regtest, "bcrt1qa"}, {regtest, "bcrt1qb"}, {cryptopay.NetworkBitcoin, "bc1qc"}} {
		at := base.Add(time.Duration(i) * time.Second)
		b := &storage.BlockedAddress{ID: cryptopay.NewID("blk", at), Network: a.network, Address: a.addr,
			Reason: "6 failed payments within 24h0m0s", Failures: 6, BlockedAt: at, BlockedBy: "system"}
		inTx(t, db, func(tx storage.Tx) error { return tx.BlockAddress(ctx, b) })
		blocks = append(blocks, b)
	}
	got, err := db.GetBlockedAddress(ctx, regtest, "bcrt1qa")
	if err != nil {
		t.Fatal(err)
	}
	want := *blocks[0]
	want.BlockedAt = us(want.BlockedAt)
	diff(t, "blocked address", &want, got)

	again := *blocks[0]
	again.ID = cryptopay.NewID("blk", base)
	err = db.InTx(ctx, func(tx storage.Tx) error { return tx.BlockAddress(ctx, &again) })
	wantConflict(t, err, "blocked_addresses_pkey")

	ids := func(f storage.BlockedAddressFilter) []string {
		return pageAll(t, 1, func(b storage.BlockedAddress) string { return b.ID }, func(p storage.Page) ([]storage.BlockedAddress, bool, error) {
			f.Page = p
			return db.ListBlockedAddresses(ctx, f)
		})
	}
	diff(t, "every block, newest first", []string{blocks[2].ID, blocks[1].ID, blocks[0].ID}, ids(storage.BlockedAddressFilter{}))
	diff(t, "regtest blocks", []string{blocks[1].ID, blocks[0].ID}, ids(storage.BlockedAddressFilter{Networks: []cryptopay.Network{regtest}}))
	if got, _, err := db.ListBlockedAddresses(ctx, storage.BlockedAddressFilter{Networks: []cryptopay.Network{}}); err != nil || len(got) != 0 {
		t.Errorf("no networks selected: %v, %v; want none", got, err)
	}

	inTx(t, db, func(tx storage.Tx) error {
		_, err := tx.RecordAddressFailure(ctx, &storage.AddressFailure{Network: regtest, Address: "bcrt1qa", PaymentID: "pay_1", InvoiceID: "inv_1", Reason: "double_spent", At: base})
		return err
	})
	inTx(t, db, func(tx storage.Tx) error { return tx.UnblockAddress(ctx, regtest, "bcrt1qa") })
	_, err = db.GetBlockedAddress(ctx, regtest, "bcrt1qa")
	wantNotFound(t, "an unblocked address", err)
	if n, err := db.CountAddressFailures(ctx, regtest, "bcrt1qa", time.Time{}); err != nil || n != 0 {
		t.Errorf("failures after unblocking: %d, %v; want 0", n, err)
	}
	err = db.InTx(ctx, func(tx storage.Tx) error { return tx.UnblockAddress(ctx, regtest, "bcrt1qa") })
	wantNotFound(t, "unblocking twice", err)
	if _, err := db.GetBlockedAddress(ctx, regtest, "bcrt1qb"); err != nil {
		t.Errorf("unblocking one address touched another: %v", err)
	}
}

// testAddressInvoices counts the distinct invoices one sending address
// paid since a time, on one network.
func testAddressInvoices(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "monitor")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })
	var invs []*cryptopay.Invoice
	for i := range 3 {
		inv := newInvoice(st, i, "")
		inTx(t, db, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, inv) })
		invs = append(invs, inv)
	}
	pay := func(inv *cryptopay.Invoice, txid, from string, seen time.Time) {
		p := &cryptopay.Payment{ID: cryptopay.NewID(cryptopay.PrefixPayment, seen), InvoiceID: inv.ID, TxID: txid,
			Amount: huge(t), Status: cryptopay.PaymentPending, FromAddress: from, SeenAt: seen}
		inTx(t, db, func(tx storage.Tx) error { return tx.CreatePayment(ctx, p) })
	}
	pay(invs[0], "t1", "bcrt1qsender", base)
	pay(invs[0], "t2", "bcrt1qsender", base.Add(time.Minute)) // same invoice again
	pay(invs[1], "t3", "bcrt1qsender", base.Add(2*time.Minute))
	pay(invs[2], "t4", "bcrt1qother", base.Add(2*time.Minute))
	cases := []struct {
		name    string
		network cryptopay.Network
		addr    string
		since   time.Time
		want    int
	}{
		{"distinct invoices, not payments", regtest, "bcrt1qsender", base, 2},
		{"window excludes the first invoice", regtest, "bcrt1qsender", base.Add(2 * time.Minute), 1},
		{"another sender", regtest, "bcrt1qother", base, 1},
		{"unknown sender", regtest, "bcrt1qnobody", base, 0},
		{"another network", cryptopay.NetworkBitcoin, "bcrt1qsender", base, 0},
	}
	for _, tc := range cases {
		got, err := db.CountAddressInvoices(ctx, tc.network, tc.addr, tc.since)
		if err != nil || got != tc.want {
			t.Errorf("%s: %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
}
