package storagetest

import (
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// newInvoice returns an invoice of st created n milliseconds after base.
func newInvoice(st *cryptopay.Store, n int, orderID string) *cryptopay.Invoice {
	at := base.Add(time.Duration(n) * time.Millisecond)
	return &cryptopay.Invoice{
		ID:                    cryptopay.NewID(cryptopay.PrefixInvoice, at),
		StoreID:               st.ID,
		Livemode:              st.Livemode,
		OrderID:               orderID,
		Amount:                big.NewInt(12_50),
		Currency:              "EUR",
		Network:               cryptopay.NetworkBitcoinRegtest,
		Asset:                 "BTC",
		CryptoDue:             big.NewInt(21_000),
		Rate:                  "59523.80952381",
		RateSources:           []string{"coinbase", "kraken"},
		RateAt:                new(us(base.Add(-19 * time.Second))),
		RateSpreadBasisPoints: 150,
		Address:               fmt.Sprintf("bcrt1q%s%d", st.ID[len(st.ID)-10:], n),
		AddressIndex:          uint32(n),
		Status:                cryptopay.StatusNew,
		AmountPaid:            new(big.Int),
		AmountConfirmed:       new(big.Int),
		RequiredConfirmations: 3,
		CreatedAt:             at,
		ExpiresAt:             at.Add(15 * time.Minute),
		MonitorUntil:          at.Add(24 * time.Hour),
	}
}

func wantInvoice(in *cryptopay.Invoice) *cryptopay.Invoice {
	w := *in
	w.CreatedAt, w.ExpiresAt, w.MonitorUntil = us(in.CreatedAt), us(in.ExpiresAt), us(in.MonitorUntil)
	if in.SettledAt != nil {
		w.SettledAt = usp(*in.SettledAt)
	}
	return &w
}

func testInvoice(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "invoices")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })

	plain := newInvoice(st, 1, "") // no order id, nil metadata
	full := newInvoice(st, 2, "order-42")
	full.Amount = huge(t)
	full.AmountText = "1234567890123456789012345678.90" // kept as sent, whatever its spelling
	full.CryptoDue = new(big.Int).Mul(huge(t), big.NewInt(1000))
	full.AmountPaid = new(big.Int).Add(huge(t), big.NewInt(1))
	full.AmountConfirmed = huge(t)
	full.Rate, full.RateSources, full.RateAt, full.RateSpreadBasisPoints = "", nil, nil, 0
	full.Status = cryptopay.StatusSettled
	full.Flags = cryptopay.FlagPaidOver | cryptopay.FlagReorged | cryptopay.FlagMarked
	full.AddressIndex = 1<<31 - 1
	full.RequiredConfirmations = 24
	full.CustomerReference = "cust-7"
	full.Metadata = map[string]string{"sku": "A-1", "note": "ünïcödé \"quoted\""}
	full.RedirectURL = "https://shop.example/thanks?o=42"
	full.SettledAt = new(base.Add(time.Hour))
	emptyMeta := newInvoice(st, 3, "order-43")
	emptyMeta.Metadata = map[string]string{}
	invoices := []*cryptopay.Invoice{plain, full, emptyMeta}
	inTx(t, db, func(tx storage.Tx) error {
		for _, inv := range invoices {
			if err := tx.CreateInvoice(ctx, inv); err != nil {
				return err
			}
		}
		return nil
	})

	for _, in := range invoices {
		got, err := db.GetInvoice(ctx, in.ID)
		if err != nil {
			t.Fatalf("GetInvoice: %v", err)
		}
		diff(t, "GetInvoice "+in.OrderID, wantInvoice(in), got)
		got, err = db.GetInvoiceByAddress(ctx, in.Network, in.Address)
		if err != nil {
			t.Fatalf("GetInvoiceByAddress: %v", err)
		}
		diff(t, "GetInvoiceByAddress", wantInvoice(in), got)
	}
	got, err := db.GetInvoiceByOrderID(ctx, st.ID, "order-42")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetInvoiceByOrderID", wantInvoice(full), got)

	notFound := []struct {
		name string
		err  func() error
	}{
		{"GetInvoice unknown", func() error { _, err := db.GetInvoice(ctx, "inv_missing"); return err }},
		{"GetInvoiceByOrderID unknown", func() error { _, err := db.GetInvoiceByOrderID(ctx, st.ID, "nope"); return err }},
		{"GetInvoiceByOrderID other store", func() error { _, err := db.GetInvoiceByOrderID(ctx, "sto_other", "order-42"); return err }},
		{"GetInvoiceByOrderID empty", func() error { _, err := db.GetInvoiceByOrderID(ctx, st.ID, ""); return err }},
		{"GetInvoiceByAddress other network", func() error {
			_, err := db.GetInvoiceByAddress(ctx, cryptopay.NetworkBitcoin, full.Address)
			return err
		}},
		{"UpdateInvoice unknown", func() error {
			return db.InTx(ctx, func(tx storage.Tx) error { return tx.UpdateInvoice(ctx, newInvoice(st, 99, "")) })
		}},
	}
	for _, tc := range notFound {
		t.Run(tc.name, func(t *testing.T) { wantNotFound(t, tc.name, tc.err()) })
	}

	t.Run("update writes only mutable fields", func(t *testing.T) {
		upd := *plain
		upd.Status = cryptopay.StatusProcessing
		upd.Flags = cryptopay.FlagPaidPartial | cryptopay.FlagPaidLate
		upd.AmountPaid = huge(t)
		upd.AmountConfirmed = big.NewInt(7)
		upd.RequiredConfirmations = 12
		upd.SettledAt = new(base.Add(2 * time.Hour))
		upd.Currency = "USD" // not mutable: must not change
		inTx(t, db, func(tx storage.Tx) error { return tx.UpdateInvoice(ctx, &upd) })
		want := wantInvoice(&upd)
		want.Currency = plain.Currency
		got, err := db.GetInvoice(ctx, plain.ID)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "after UpdateInvoice", want, got)
	})

	t.Run("unknown store", func(t *testing.T) {
		orphan := newInvoice(&cryptopay.Store{ID: "sto_missing00000000000"}, 5, "")
		err := db.InTx(ctx, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, orphan) })
		if !errors.Is(err, storage.ErrForeignKey) {
			t.Fatalf("got %v, want ErrForeignKey", err)
		}
	})
}

func testInvoiceConflicts(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "conflicts")
	other := newStore(t, "other")
	inTx(t, db, func(tx storage.Tx) error {
		if err := tx.CreateStore(ctx, st); err != nil {
			return err
		}
		return tx.CreateStore(ctx, other)
	})
	first := newInvoice(st, 1, "order-1")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, first) })

	t.Run("same order id", func(t *testing.T) {
		again := newInvoice(st, 2, "order-1")
		// The service's idempotent create: conflict, then read the existing
		// invoice in the same transaction.
		inTx(t, db, func(tx storage.Tx) error {
			wantConflict(t, tx.CreateInvoice(ctx, again), "invoices_store_order_key")
			got, err := tx.GetInvoiceByOrderID(ctx, st.ID, "order-1")
			if err != nil {
				return err
			}
			if got.ID != first.ID {
				t.Errorf("existing invoice %s, want %s", got.ID, first.ID)
			}
			return nil
		})
	})

	t.Run("same order id in another store", func(t *testing.T) {
		inTx(t, db, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, newInvoice(other, 3, "order-1")) })
	})

	t.Run("empty order ids never conflict", func(t *testing.T) {
		inTx(t, db, func(tx storage.Tx) error {
			for n := 10; n < 13; n++ {
				if err := tx.CreateInvoice(ctx, newInvoice(st, n, "")); err != nil {
					return err
				}
			}
			return nil
		})
	})

	t.Run("same address", func(t *testing.T) {
		dup := newInvoice(st, 20, "order-20")
		dup.Address = first.Address
		err := db.InTx(ctx, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, dup) })
		wantConflict(t, err, "invoices_network_address_key")
	})

	t.Run("same id", func(t *testing.T) {
		dup := newInvoice(st, 21, "order-21")
		dup.ID = first.ID
		err := db.InTx(ctx, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, dup) })
		wantConflict(t, err, "invoices_pkey")
	})
}

// testInvoicePayments checks GetInvoice returns payments ordered by
// seen_at. No storage method writes payments yet (the chain watcher will),
// so the rows are inserted directly.
func testInvoicePayments(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "payments")
	inv := newInvoice(st, 1, "")
	inTx(t, db, func(tx storage.Tx) error {
		if err := tx.CreateStore(ctx, st); err != nil {
			return err
		}
		return tx.CreateInvoice(ctx, inv)
	})

	later := cryptopay.Payment{
		ID: cryptopay.NewID(cryptopay.PrefixPayment, base), InvoiceID: inv.ID,
		TxID: "aa" + fmt.Sprint(1), Vout: 1<<32 - 1, Amount: huge(t),
		BlockHash: "00ff", BlockHeight: 840_000, Confirmations: 6, RBF: true,
		FromAddress: "bcrt1qfrom", Status: cryptopay.PaymentConfirmed,
		SeenAt: us(base.Add(time.Minute)), ConfirmedAt: usp(base.Add(time.Hour)),
	}
	earlier := cryptopay.Payment{
		ID: cryptopay.NewID(cryptopay.PrefixPayment, base.Add(time.Second)), InvoiceID: inv.ID,
		TxID: "bb", Vout: 0, Amount: big.NewInt(1), Status: cryptopay.PaymentPending,
		SeenAt: us(base),
	}
	for _, p := range []cryptopay.Payment{later, earlier} {
		var confirmed any
		if p.ConfirmedAt != nil {
			confirmed = p.ConfirmedAt.UnixMicro()
		}
		rbf := "FALSE"
		if p.RBF {
			rbf = "TRUE" // a literal both engines read as their boolean
		}
		_, err := db.SQL().ExecContext(ctx, rebind(db, `INSERT INTO payments (id, invoice_id, tx_id, vout,
			amount, block_hash, block_height, confirmations, rbf, from_address, status, seen_at, confirmed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, `+rbf+`, ?, ?, ?, ?)`),
			p.ID, p.InvoiceID, p.TxID, int64(p.Vout), p.Amount.String(), p.BlockHash, p.BlockHeight,
			p.Confirmations, p.FromAddress, string(p.Status), p.SeenAt.UnixMicro(), confirmed)
		if err != nil {
			t.Fatalf("insert payment: %v", err)
		}
	}

	got, err := db.GetInvoice(ctx, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "payments ordered by seen_at", []cryptopay.Payment{earlier, later}, got.Payments)

	// Listed invoices carry the same payments as GetInvoice's, on every
	// page size, and an invoice without payments carries none.
	unpaid, third := newInvoice(st, 2, ""), newInvoice(st, 3, "")
	inTx(t, db, func(tx storage.Tx) error {
		for _, inv := range []*cryptopay.Invoice{unpaid, third} {
			if err := tx.CreateInvoice(ctx, inv); err != nil {
				return err
			}
		}
		return tx.CreatePayment(ctx, &cryptopay.Payment{ID: cryptopay.NewID(cryptopay.PrefixPayment, base),
			InvoiceID: third.ID, TxID: "cc", Amount: big.NewInt(7), Status: cryptopay.PaymentPending, SeenAt: us(base)})
	})
	want := map[string][]cryptopay.Payment{}
	for _, id := range []string{inv.ID, unpaid.ID, third.ID} {
		got, err := db.GetInvoice(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want[id] = got.Payments
	}
	if len(want[inv.ID]) != 2 || len(want[third.ID]) != 1 || want[unpaid.ID] != nil {
		t.Fatalf("GetInvoice payments: %v", want)
	}
	for _, limit := range []int{1, 2, 10} {
		got := map[string][]cryptopay.Payment{}
		pageAll(t, limit, func(inv cryptopay.Invoice) string { return inv.ID }, func(p storage.Page) ([]cryptopay.Invoice, bool, error) {
			invs, more, err := db.ListInvoices(ctx, storage.InvoiceFilter{StoreID: st.ID, Page: p})
			for _, inv := range invs {
				got[inv.ID] = inv.Payments
			}
			return invs, more, err
		})
		diff(t, fmt.Sprintf("listed payments, pages of %d", limit), want, got)
	}
}

// testListedAsGot checks that a listed invoice is GetInvoice's, field
// for field: the list reads its page through one joined statement (on
// PostgreSQL decoding the columns' text itself), GetInvoice through
// database/sql's scan, and a user must see the same invoice from both.
// The cases cover every column that can be NULL or empty, sealed fields
// and payments with and without their optional times.
func testListedAsGot(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "listed")
	settled := base.Add(time.Hour)

	plain := newInvoice(st, 0, "")
	noRate := newInvoice(st, 1, "order-norate")
	noRate.Rate, noRate.RateSources, noRate.RateAt, noRate.RateSpreadBasisPoints = "", nil, nil, 0
	rich := newInvoice(st, 2, "order-rich")
	rich.Status, rich.SettledAt = cryptopay.StatusSettled, &settled
	rich.Flags = cryptopay.FlagPaidPartial | cryptopay.Flag(1<<15)
	rich.CustomerReference = "cust-1 <é> \"q\""
	rich.Metadata = map[string]string{"sku": "A-1", "note": "café & co"}
	rich.AmountText, rich.RedirectURL = "12.50", "https://shop.example/thanks?o=1"
	rich.AmountPaid, rich.AmountConfirmed = huge(t), big.NewInt(1)
	emptyMeta := newInvoice(st, 3, "order-empty")
	emptyMeta.Metadata = map[string]string{}
	paid := newInvoice(st, 4, "order-paid")
	invs := []*cryptopay.Invoice{plain, noRate, rich, emptyMeta, paid}
	inTx(t, db, func(tx storage.Tx) error {
		if err := tx.CreateStore(ctx, st); err != nil {
			return err
		}
		for _, inv := range invs {
			if err := tx.CreateInvoice(ctx, inv); err != nil {
				return err
			}
		}
		return nil
	})
	payments := []struct {
		id, tx               string
		seen                 time.Duration
		rbf                  bool
		confirmed, released  *int64
		asset, by            string
		decimals, vout, conf int64
	}{
		{id: "a", tx: "aa", seen: time.Minute, rbf: true, confirmed: new(base.Add(time.Hour).UnixMicro()), vout: 1<<32 - 1, conf: 6},
		{id: "b", tx: "bb", seen: 0, asset: "USDT", decimals: 6},
		{id: "c", tx: "cc", seen: time.Minute, released: new(base.Add(2 * time.Hour).UnixMicro()), by: "admin@example.com"},
	}
	for _, p := range payments {
		rbf := "FALSE"
		if p.rbf {
			rbf = "TRUE"
		}
		_, err := db.SQL().ExecContext(ctx, rebind(db, `INSERT INTO payments (id, invoice_id, tx_id, vout,
			amount, block_hash, block_height, confirmations, rbf, from_address, status, seen_at, confirmed_at,
			asset, asset_decimals, released_at, released_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, `+rbf+`, ?, ?, ?, ?, ?, ?, ?, ?)`),
			cryptopay.NewID(cryptopay.PrefixPayment, base.Add(p.seen)), paid.ID, p.tx, p.vout,
			"123456789012345678901234567890", "00ff", int64(840_000), p.conf, "bcrt1qfrom",
			string(cryptopay.PaymentConfirmed), base.Add(p.seen).UnixMicro(), p.confirmed,
			p.asset, p.decimals, p.released, p.by)
		if err != nil {
			t.Fatalf("insert payment %s: %v", p.id, err)
		}
	}

	want := map[string]*cryptopay.Invoice{}
	for _, inv := range invs {
		got, err := db.GetInvoice(ctx, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		want[inv.ID] = got
	}
	if len(want[paid.ID].Payments) != len(payments) || want[rich.ID].Metadata["sku"] != "A-1" ||
		want[emptyMeta.ID].Metadata == nil || want[plain.ID].Metadata != nil || want[rich.ID].SettledAt == nil {
		t.Fatalf("GetInvoice did not read back what was written: %+v", want)
	}
	tests := []struct {
		name   string
		filter storage.InvoiceFilter
	}{
		{"one page", storage.InvoiceFilter{StoreID: st.ID, Page: storage.Page{Limit: 10}}},
		{"pages of 1", storage.InvoiceFilter{StoreID: st.ID, Page: storage.Page{Limit: 1}}},
		{"pages of 2", storage.InvoiceFilter{StoreID: st.ID, Page: storage.Page{Limit: 2}}},
		{"status filter", storage.InvoiceFilter{StoreID: st.ID, Status: cryptopay.StatusSettled, Page: storage.Page{Limit: 10}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]*cryptopay.Invoice{}
			pageAll(t, tc.filter.Page.Limit, func(inv cryptopay.Invoice) string { return inv.ID }, func(p storage.Page) ([]cryptopay.Invoice, bool, error) {
				f := tc.filter
				f.Page = p
				invs, more, err := db.ListInvoices(ctx, f)
				for i := range invs {
					got[invs[i].ID] = &invs[i]
				}
				return invs, more, err
			})
			w := want
			if tc.filter.Status != "" {
				w = map[string]*cryptopay.Invoice{rich.ID: want[rich.ID]}
			}
			diff(t, "listed invoices", w, got)
		})
	}
}
