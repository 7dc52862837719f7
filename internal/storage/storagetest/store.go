package storagetest

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// newStore returns a test-mode store with a regtest and a signet wallet.
func newStore(t testing.TB, name string) *cryptopay.Store {
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
			var got storage.AddressBlock
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
			if err != nil || got.First != tc.want {
				t.Fatalf("got %d, %v; want %d", got.First, err, tc.want)
			}
			// The block names the key it was reserved under.
			w, _ := st.Wallet(tc.network)
			if got.AccountKey != w.AccountKey || got.Fingerprint != w.Fingerprint || got.KeyGeneration != 0 {
				t.Errorf("block key = %q %q gen %d; want the wallet's %q %q gen 0", got.AccountKey, got.Fingerprint, got.KeyGeneration, w.AccountKey, w.Fingerprint)
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

// testReserveAddressIndexesConcurrent checks that concurrent reservations,
// in callers' transactions and in transactions of their own
// (DB.ReserveAddressIndexes), never hand out an index twice: a reused index
// would send two customers' payments to one address.
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
			if i%2 == 1 { // in a transaction of its own, the chain path's pool for some
				c := ctx
				if i%4 == 1 {
					c = storage.WithPriority(ctx)
				}
				b, err := db.ReserveAddressIndexes(c, st.ID, cryptopay.NetworkBitcoinSignet, 1)
				got[i], errs[i] = b.First, err
				return
			}
			errs[i] = db.InTx(ctx, func(tx storage.Tx) error {
				b, err := tx.ReserveAddressIndexes(ctx, st.ID, cryptopay.NetworkBitcoinSignet, 1)
				got[i] = b.First
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
// refuses another store's key and a missing wallet.
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
	ow, _ := other.Wallet(signet)
	err = db.InTx(ctx, func(tx storage.Tx) error {
		_, err := tx.ReplaceWalletKey(ctx, st.ID, signet, "x", ow.Fingerprint)
		return err
	})
	wantConflict(t, err, "wallets_network_fingerprint_key")
	err = db.InTx(ctx, func(tx storage.Tx) error {
		_, err := tx.ReplaceWalletKey(ctx, st.ID, cryptopay.NetworkBitcoinTestnet, "x", "y")
		return err
	})
	wantNotFound(t, "ReplaceWalletKey without a wallet on the network", err)
}

// testReplaceWalletKey: indexes count per key. A key new to the store
// starts at 0 (a wallet restored from it scans from 0), a key the store
// held before resumes where it stopped, and every reservation names the
// key it was made under.
func testReplaceWalletKey(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "keys")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })
	signet := cryptopay.NetworkBitcoinSignet
	first, _ := st.Wallet(signet) // next index 5
	reserve := func(n uint32) storage.AddressBlock {
		t.Helper()
		var b storage.AddressBlock
		inTx(t, db, func(tx storage.Tx) error {
			var err error
			b, err = tx.ReserveAddressIndexes(ctx, st.ID, signet, n)
			return err
		})
		return b
	}
	replace := func(key, fp string) cryptopay.Wallet {
		t.Helper()
		var w cryptopay.Wallet
		inTx(t, db, func(tx storage.Tx) error {
			var err error
			w, err = tx.ReplaceWalletKey(ctx, st.ID, signet, key, fp)
			return err
		})
		got, err := db.GetStore(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored, _ := got.Wallet(signet); stored != w {
			t.Errorf("ReplaceWalletKey returned %+v; the store reads %+v", w, stored)
		}
		return w
	}
	resume := func(fp string) (uint32, bool) {
		t.Helper()
		idx, ok, err := db.WalletKeyResumeIndex(ctx, st.ID, signet, fp)
		if err != nil {
			t.Fatal(err)
		}
		return idx, ok
	}
	if _, ok := resume("new-fp"); ok {
		t.Errorf("a key the store never held has a resume index")
	}

	reserve(3) // the first key used 5, 6, 7
	steps := []struct {
		name      string
		key, fp   string
		wantStart uint32
		wantGen   int64
		use       uint32 // indexes reserved under the key afterwards
	}{
		{"a new key starts at 0", "vpub-new", "new-fp", 0, 1, 2},
		{"the first key resumes past its last index", first.AccountKey, first.Fingerprint, 8, 2, 1},
		{"the second key resumes past its last index", "vpub-new", "new-fp", 2, 3, 0},
		{"a key left unused resumes where it stopped", first.AccountKey, first.Fingerprint, 9, 4, 0},
		{"a third key starts at 0", "vpub-third", "third-fp", 0, 5, 0},
	}
	for _, tc := range steps {
		w := replace(tc.key, tc.fp)
		if w.AccountKey != tc.key || w.Fingerprint != tc.fp || w.NextIndex != tc.wantStart || w.KeyGeneration != tc.wantGen {
			t.Fatalf("%s: wallet %+v; want %s at %d, generation %d", tc.name, w, tc.fp, tc.wantStart, tc.wantGen)
		}
		if tc.use > 0 {
			b := reserve(tc.use)
			if b.First != tc.wantStart || b.AccountKey != tc.key || b.Fingerprint != tc.fp || b.KeyGeneration != tc.wantGen {
				t.Fatalf("%s: reserved %+v; want %d under %s, generation %d", tc.name, b, tc.wantStart, tc.fp, tc.wantGen)
			}
		}
	}
	if idx, ok := resume(first.Fingerprint); !ok || idx != 9 {
		t.Errorf("first key resumes at %d, %v; want 9", idx, ok)
	}
	if idx, ok := resume("new-fp"); !ok || idx != 2 {
		t.Errorf("second key resumes at %d, %v; want 2", idx, ok)
	}
}

// testReplaceWalletKeyConcurrent: reservations racing key replacements
// (back and forth between two keys) never get one index of one key twice,
// and each block names the key its indexes belong to: on PostgreSQL the
// replacement and the reservations are concurrent transactions.
func testReplaceWalletKeyConcurrent(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "race")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })
	signet := cryptopay.NetworkBitcoinSignet
	a, _ := st.Wallet(signet)
	keys := [][2]string{{"vpub-b", "fp-b"}, {a.AccountKey, a.Fingerprint}}

	const reservers, rounds, swaps = 6, 12, 10
	var (
		mu     sync.Mutex
		blocks []storage.AddressBlock
		wg     sync.WaitGroup
		errs   = make(chan error, reservers+1)
	)
	for range reservers {
		wg.Go(func() {
			for range rounds {
				err := db.InTx(ctx, func(tx storage.Tx) error {
					b, err := tx.ReserveAddressIndexes(ctx, st.ID, signet, 3)
					if err == nil {
						mu.Lock()
						blocks = append(blocks, b)
						mu.Unlock()
					}
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range swaps {
			k := keys[i%2]
			if err := db.InTx(ctx, func(tx storage.Tx) error {
				_, err := tx.ReplaceWalletKey(ctx, st.ID, signet, k[0], k[1])
				return err
			}); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	keyOf := map[string]string{"fp-b": "vpub-b", a.Fingerprint: a.AccountKey}
	seen := map[string]bool{}
	for _, b := range blocks {
		if keyOf[b.Fingerprint] != b.AccountKey {
			t.Fatalf("block %+v: key and fingerprint of different keys", b)
		}
		for i := range uint32(3) {
			id := fmt.Sprintf("%s/%d", b.Fingerprint, b.First+i)
			if seen[id] {
				t.Fatalf("index %s handed out twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != reservers*rounds*3 {
		t.Errorf("%d distinct indexes, want %d", len(seen), reservers*rounds*3)
	}
}

// walletKeysMigration is the number of the migration that creates
// wallet_keys (NNNN_wallet_keys.sql); testWalletKeysBackfill undoes and
// re-applies it, which works only while it is the latest.
const walletKeysMigration = 23

// testWalletKeysBackfill: keys retired before the wallet_keys migration
// (recorded only in the audit log, wallet_key.retired) shared the
// wallet's one counter, so the migration makes them resume at the
// wallet's counter, never at 0, where their used addresses are. The test
// undoes the migration on a migrated database, retires a key the old way
// and migrates again.
func testWalletKeysBackfill(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	if _, latest, err := db.SchemaVersion(ctx); err != nil {
		t.Fatal(err)
	} else if latest != walletKeysMigration {
		// Undoing an older migration under later ones is not possible
		// here; once a migration follows wallet_keys, this one-time
		// backfill has shipped and its test has done its work.
		t.Skipf("wallet_keys (%d) is no longer the latest migration (%d); its backfill is tested only while it is", walletKeysMigration, latest)
	}
	st, other := newStore(t, "legacy"), newStore(t, "other")
	signet := cryptopay.NetworkBitcoinSignet
	inTx(t, db, func(tx storage.Tx) error {
		if err := tx.CreateStore(ctx, st); err != nil {
			return err
		}
		if err := tx.CreateStore(ctx, other); err != nil {
			return err
		}
		_, err := tx.ReserveAddressIndexes(ctx, st.ID, signet, 25) // 5..29: next index 30
		return err
	})
	for _, stmt := range []string{
		`DROP TABLE wallet_keys`,
		`ALTER TABLE wallets DROP COLUMN key_generation`,
		fmt.Sprintf(`DELETE FROM schema_migrations WHERE version = %d`, walletKeysMigration),
	} {
		if _, err := db.SQL().ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	retired := func(store, network, fp string) storage.AuditRecord {
		return storage.AuditRecord{Actor: "operator", Action: "wallet_key.retired", Target: fp,
			Details: map[string]any{"network": network, "fingerprint": fp, "store": store}}
	}
	inTx(t, db, func(tx storage.Tx) error {
		for _, r := range []storage.AuditRecord{
			retired(st.ID, string(signet), "legacy-fp"),
			retired(st.ID, string(cryptopay.NetworkBitcoinTestnet), "no-wallet-fp"), // no wallet there: nothing to resume
		} {
			e, err := r.Entry(base)
			if err != nil {
				return err
			}
			if err := tx.AppendAudit(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if n, err := db.Migrate(ctx); err != nil || n != 1 {
		t.Fatalf("Migrate again: %d, %v; want the wallet_keys migration applied", n, err)
	}
	tests := []struct {
		name        string
		store, fp   string
		network     cryptopay.Network
		wantIdx     uint32
		wantResumed bool
	}{
		{"retired before the migration", st.ID, "legacy-fp", signet, 30, true},
		{"another store", other.ID, "legacy-fp", signet, 0, false},
		{"a key never held", st.ID, "never-fp", signet, 0, false},
		{"a network without the wallet", st.ID, "no-wallet-fp", cryptopay.NetworkBitcoinTestnet, 0, false},
	}
	for _, tc := range tests {
		idx, ok, err := db.WalletKeyResumeIndex(ctx, tc.store, tc.network, tc.fp)
		if err != nil || idx != tc.wantIdx || ok != tc.wantResumed {
			t.Errorf("%s: %d, %v, %v; want %d, %v", tc.name, idx, ok, err, tc.wantIdx, tc.wantResumed)
		}
	}
	got, err := db.GetStore(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := got.Wallet(signet); w.KeyGeneration != 0 || w.NextIndex != 30 {
		t.Errorf("wallet after the migration: %+v; want generation 0 at 30", w)
	}
}
