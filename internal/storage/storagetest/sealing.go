package storagetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/sqldb"
)

// strictSealer is what the SQL engines offer for strict sealing.
type strictSealer interface {
	crypter
	SealingStrict(ctx context.Context) (bool, error)
}

// testStrictSealing checks that once a rotation leaves no plain value, a
// plain or bare value swapped into a sealed column is refused instead of
// read, that writing without a key is refused, and that a rotation that
// could not seal everything leaves the database lenient.
func testStrictSealing(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	c, ok := db.(strictSealer)
	if !ok {
		t.Skip("engine has no sealed columns")
	}
	key := fieldcrypt.Key{7}
	st := newStore(t, "strict")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })
	inv := newInvoice(st, 1, "o-1")
	inv.CustomerReference = "user_1"
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, inv) })
	isStrict := func(want bool) {
		t.Helper()
		if got, err := c.SealingStrict(ctx); err != nil || got != want {
			t.Fatalf("SealingStrict = %v, %v; want %v", got, err, want)
		}
	}

	// Lenient: a database that was never sealed reads plain and bare values.
	isStrict(false)
	plainRef := rawInvoiceCol(t, db, "customer_reference", inv.ID)
	setRawInvoiceCol(t, db, "customer_reference", inv.ID, "legacy bare text")
	if got, err := db.GetInvoice(ctx, inv.ID); err != nil || got.CustomerReference != "legacy bare text" {
		t.Fatalf("lenient bare value: %v, %v", got, err)
	}
	setRawInvoiceCol(t, db, "customer_reference", inv.ID, plainRef)

	c.SetKeyring(keyring(t, key))
	if _, err := c.Reseal(ctx); err != nil {
		t.Fatal(err)
	}
	isStrict(true)
	if _, err := db.GetInvoice(ctx, inv.ID); err != nil {
		t.Fatalf("sealed value after rotation: %v", err)
	}

	sealedRef := rawInvoiceCol(t, db, "customer_reference", inv.ID)
	swaps := []struct{ name, value string }{
		{"plain form", plainRef},
		{"bare text", "attacker text"},
		{"empty", ""},
		{"plain prefix of other text", "plain:YXR0YWNrZXI"},
	}
	for _, tc := range swaps {
		t.Run(tc.name, func(t *testing.T) {
			setRawInvoiceCol(t, db, "customer_reference", inv.ID, tc.value)
			defer setRawInvoiceCol(t, db, "customer_reference", inv.ID, sealedRef)
			if _, err := db.GetInvoice(ctx, inv.ID); !errors.Is(err, sqldb.ErrUnsealedValue) {
				t.Errorf("GetInvoice = %v, want ErrUnsealedValue", err)
			}
			if _, _, err := db.ListInvoices(ctx, storage.InvoiceFilter{StoreID: st.ID}); !errors.Is(err, sqldb.ErrUnsealedValue) {
				t.Errorf("ListInvoices = %v, want ErrUnsealedValue", err)
			}
			err := db.InTx(ctx, func(tx storage.Tx) error { _, err := tx.GetInvoice(ctx, inv.ID); return err })
			if !errors.Is(err, sqldb.ErrUnsealedValue) {
				t.Errorf("GetInvoice in a transaction = %v, want ErrUnsealedValue", err)
			}
			if _, err := c.Reseal(ctx); !errors.Is(err, sqldb.ErrUnsealedValue) || !strings.Contains(err.Error(), inv.ID) {
				t.Errorf("Reseal over a swapped value = %v, want ErrUnsealedValue naming %s", err, inv.ID)
			}
		})
	}
	if _, err := db.GetInvoice(ctx, inv.ID); err != nil {
		t.Fatalf("restored value: %v", err)
	}

	// The key removed from the configuration: writes are refused rather
	// than stored in a form that could no longer be read.
	c.SetKeyring(nil)
	err := db.InTx(ctx, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, newInvoice(st, 2, "o-2")) })
	if !errors.Is(err, sqldb.ErrSealedWithoutKey) {
		t.Errorf("write without a key = %v, want ErrSealedWithoutKey", err)
	}

	// The flag row removed: still strict, on a fresh read of the flag.
	if _, err := db.SQL().ExecContext(ctx, `DELETE FROM sealing_state`); err != nil {
		t.Fatal(err)
	}
	isStrict(true)
}

// testStrictSealingNeedsEveryValue checks a rotation that leaves a plain
// value behind (one it could not open stops it) does not make the
// database strict.
func testStrictSealingNeedsEveryValue(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	c, ok := db.(strictSealer)
	if !ok {
		t.Skip("engine has no sealed columns")
	}
	st := newStore(t, "partial")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })
	inv := newInvoice(st, 1, "o-1")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, inv) })
	c.SetKeyring(keyring(t, fieldcrypt.Key{8}))
	setRawInvoiceCol(t, db, "metadata", inv.ID, "v1:"+fieldcrypt.Key{9}.ID()+":AAAA") // a key we lack
	if _, err := c.Reseal(ctx); err == nil {
		t.Fatal("Reseal over a value sealed with an unknown key succeeded")
	}
	if strict, err := c.SealingStrict(ctx); err != nil || strict {
		t.Fatalf("after a failed rotation SealingStrict = %v, %v; want false", strict, err)
	}
}
