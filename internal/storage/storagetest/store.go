package storagetest

import (
	"errors"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// newStore returns a test-mode store with a regtest and a signet wallet.
func newStore(t *testing.T, name string) *cryptopay.Store {
	t.Helper()
	id := cryptopay.NewID(cryptopay.PrefixStore, base)
	tail := id[len(id)-8:] // account keys are unique per network, so each store gets its own
	return &cryptopay.Store{
		ID:                   id,
		Name:                 name,
		Livemode:             false,
		DefaultCurrency:      "EUR",
		InvoiceExpiry:        15*time.Minute + 1500*time.Microsecond,
		MonitoringWindow:     24 * time.Hour,
		ToleranceBasisPoints: 50,
		Confirmations: cryptopay.ConfirmationPolicy{
			Currency: "EUR",
			Tiers: []cryptopay.ConfirmationTier{
				{Below: big.NewInt(100_00), Confirmations: 3},
				{Below: huge(t), Confirmations: 12},
			},
			Above: 24,
		},
		AllowPII:              true,
		RateSpreadBasisPoints: 75,
		Wallets: []cryptopay.Wallet{
			{Network: cryptopay.NetworkBitcoinRegtest, AccountKey: "vpub-regtest-" + tail, Fingerprint: "r" + tail},
			{Network: cryptopay.NetworkBitcoinSignet, AccountKey: "vpub-signet-" + tail, Fingerprint: "s" + tail, NextIndex: 5},
		},
		CreatedAt: base,
	}
}

func wantStore(in *cryptopay.Store) *cryptopay.Store {
	w := *in
	w.CreatedAt = us(in.CreatedAt)
	w.InvoiceExpiry = in.InvoiceExpiry.Truncate(time.Microsecond)
	w.MonitoringWindow = in.MonitoringWindow.Truncate(time.Microsecond)
	w.Wallets = slices.Clone(in.Wallets)
	slices.SortFunc(w.Wallets, func(a, b cryptopay.Wallet) int {
		return cmpString(string(a.Network), string(b.Network))
	})
	return &w
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testStore(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)

	full := newStore(t, "full")
	// A live store with no wallets and an empty (not nil) tier list.
	bare := &cryptopay.Store{
		ID:            cryptopay.NewID(cryptopay.PrefixStore, base.Add(time.Millisecond)),
		Name:          "bare",
		Livemode:      true,
		Confirmations: cryptopay.ConfirmationPolicy{Tiers: []cryptopay.ConfirmationTier{}},
		CreatedAt:     base,
	}
	// Nil tiers stay nil.
	nilTiers := &cryptopay.Store{
		ID:        cryptopay.NewID(cryptopay.PrefixStore, base.Add(2*time.Millisecond)),
		Name:      "nil tiers",
		CreatedAt: base,
	}
	inTx(t, db, func(tx storage.Tx) error {
		for _, s := range []*cryptopay.Store{full, bare, nilTiers} {
			if err := tx.CreateStore(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})

	for _, in := range []*cryptopay.Store{full, bare, nilTiers} {
		got, err := db.GetStore(ctx, in.ID)
		if err != nil {
			t.Fatalf("GetStore(%s): %v", in.Name, err)
		}
		diff(t, "GetStore "+in.Name, wantStore(in), got)
	}

	list, err := db.ListStores(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []cryptopay.Store{*wantStore(full), *wantStore(bare), *wantStore(nilTiers)}
	diff(t, "ListStores", want, list)

	_, err = db.GetStore(ctx, "sto_missing")
	wantNotFound(t, "GetStore unknown", err)

	err = db.InTx(ctx, func(tx storage.Tx) error { return tx.CreateStore(ctx, full) })
	wantConflict(t, err, "stores_pkey")

	dupWallet := newStore(t, "dup wallet")
	second := dupWallet.Wallets[0]
	second.Fingerprint = "another key"
	dupWallet.Wallets = append(dupWallet.Wallets, second)
	err = db.InTx(ctx, func(tx storage.Tx) error { return tx.CreateStore(ctx, dupWallet) })
	wantConflict(t, err, "wallets_pkey")

	// Two stores on one account key would hand out the same addresses.
	sameKey := newStore(t, "same key")
	sameKey.Wallets[0].Fingerprint = full.Wallets[0].Fingerprint
	err = db.InTx(ctx, func(tx storage.Tx) error { return tx.CreateStore(ctx, sameKey) })
	wantConflict(t, err, "wallets_network_fingerprint_key")
}

func testReserveAddressIndexes(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "alloc")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })

	tests := []struct {
		name    string
		storeID string
		network cryptopay.Network
		n       uint32
		want    uint32
		wantErr error
	}{
		{"first index", st.ID, cryptopay.NetworkBitcoinRegtest, 1, 0, nil},
		{"second index", st.ID, cryptopay.NetworkBitcoinRegtest, 1, 1, nil},
		{"wallet starting at 5", st.ID, cryptopay.NetworkBitcoinSignet, 1, 5, nil},
		{"a block of ten", st.ID, cryptopay.NetworkBitcoinSignet, 10, 6, nil},
		{"after the block", st.ID, cryptopay.NetworkBitcoinSignet, 1, 16, nil},
		{"networks are independent", st.ID, cryptopay.NetworkBitcoinRegtest, 1, 2, nil},
		{"no wallet on network", st.ID, cryptopay.NetworkBitcoin, 1, 0, storage.ErrNotFound},
		{"unknown store", "sto_missing", cryptopay.NetworkBitcoinRegtest, 1, 0, storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got uint32
			err := db.InTx(ctx, func(tx storage.Tx) error {
				var err error
				got, err = tx.ReserveAddressIndexes(ctx, tc.storeID, tc.network, tc.n)
				return err
			})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}

	// A rolled-back allocation does not use up the index.
	_ = db.InTx(ctx, func(tx storage.Tx) error {
		if _, err := tx.ReserveAddressIndexes(ctx, st.ID, cryptopay.NetworkBitcoinRegtest, 1); err != nil {
			return err
		}
		return errRollback
	})
	got, err := db.GetStore(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := got.Wallet(cryptopay.NetworkBitcoinRegtest); w.NextIndex != 3 {
		t.Errorf("NextIndex after rollback = %d, want 3", w.NextIndex)
	}
}

// testReserveAddressIndexesConcurrent checks that concurrent reservations
// never hand out an index twice: a reused index would send two customers'
// payments to one address.
func testReserveAddressIndexesConcurrent(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "concurrent")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })

	const n = 16
	got := make([]uint32, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = db.InTx(ctx, func(tx storage.Tx) error {
				var err error
				got[i], err = tx.ReserveAddressIndexes(ctx, st.ID, cryptopay.NetworkBitcoinSignet, 1)
				return err
			})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("goroutine %d: %v", i, err)
		}
	}
	slices.Sort(got)
	for i, v := range got {
		if v != uint32(5+i) {
			t.Fatalf("indexes = %v, want 16 distinct consecutive from 5", got)
		}
	}
	s, err := db.GetStore(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := s.Wallet(cryptopay.NetworkBitcoinSignet); w.NextIndex != 5+n {
		t.Errorf("NextIndex = %d, want %d", w.NextIndex, 5+n)
	}
}
