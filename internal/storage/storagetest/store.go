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

// testStoreUpdate: UpdateStore writes the changeable settings and nothing
// else; LockStore reads the store with its wallets; ReplaceWalletKey
// changes the key but never the next index, and refuses another store's
// key.
func testStoreUpdate(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st, other := newStore(t, "before"), newStore(t, "other")
	inTx(t, db, func(tx storage.Tx) error {
		if err := tx.CreateStore(ctx, st); err != nil {
			return err
		}
		return tx.CreateStore(ctx, other)
	})

	changed := *wantStore(st)
	changed.Name = "after"
	changed.InvoiceExpiry = time.Hour
	changed.MonitoringWindow = 0
	changed.ToleranceBasisPoints = 10
	changed.RateSpreadBasisPoints = 0
	changed.Confirmations = cryptopay.ConfirmationPolicy{Currency: "USD", Tiers: []cryptopay.ConfirmationTier{{Below: big.NewInt(50_00), Confirmations: 2}},
		Above: 6, ZeroConfBelow: big.NewInt(10_00)}
	ignored := changed
	ignored.Livemode, ignored.DefaultCurrency, ignored.AllowPII = true, "JPY", false // not changeable: not written
	inTx(t, db, func(tx storage.Tx) error {
		locked, err := tx.LockStore(ctx, st.ID)
		if err != nil {
			return err
		}
		diff(t, "LockStore", wantStore(st), locked)
		return tx.UpdateStore(ctx, &ignored)
	})
	got, err := db.GetStore(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetStore after UpdateStore", &changed, got)

	err = db.InTx(ctx, func(tx storage.Tx) error {
		_, err := tx.LockStore(ctx, "sto_missing")
		return err
	})
	wantNotFound(t, "LockStore unknown", err)
	missing := changed
	missing.ID = "sto_missing"
	err = db.InTx(ctx, func(tx storage.Tx) error { return tx.UpdateStore(ctx, &missing) })
	wantNotFound(t, "UpdateStore unknown", err)

	signet := cryptopay.NetworkBitcoinSignet
	inTx(t, db, func(tx storage.Tx) error { return tx.ReplaceWalletKey(ctx, st.ID, signet, "vpub-new", "new-fp") })
	got, _ = db.GetStore(ctx, st.ID)
	if w, _ := got.Wallet(signet); w.AccountKey != "vpub-new" || w.Fingerprint != "new-fp" || w.NextIndex != 5 {
		t.Errorf("wallet after ReplaceWalletKey: %+v; want the new key at the old next index 5", w)
	}
	ow, _ := other.Wallet(signet)
	err = db.InTx(ctx, func(tx storage.Tx) error { return tx.ReplaceWalletKey(ctx, st.ID, signet, "x", ow.Fingerprint) })
	wantConflict(t, err, "wallets_network_fingerprint_key")
	err = db.InTx(ctx, func(tx storage.Tx) error {
		return tx.ReplaceWalletKey(ctx, st.ID, cryptopay.NetworkBitcoinTestnet, "x", "y")
	})
	wantNotFound(t, "ReplaceWalletKey without a wallet on the network", err)
}
