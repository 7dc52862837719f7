package shred

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// TestVaultReseal, on a SQLite and a PostgreSQL vault: after Reseal under
// a keyring whose primary key is new, the vault opens with the new key
// alone, a live subject's key and its lookup are unchanged, an erased
// subject stays erased, and a second Reseal rewrites nothing. Before it,
// the new key alone cannot open the vault.
func TestVaultReseal(t *testing.T) {
	for _, c := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "v.db") }},
		{"postgres", func(t *testing.T) string { return testdb.PostgresURL(t) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := c.dsn(t)
			oldK, newK := fieldcrypt.Key{1}, fieldcrypt.Key{2}
			open := func(keys ...fieldcrypt.Key) (*Vault, error) {
				kr, err := fieldcrypt.NewKeyring(keys...)
				if err != nil {
					t.Fatal(err)
				}
				return Open(ctx, dsn, kr)
			}
			v, err := open(oldK)
			if err != nil {
				t.Fatal(err)
			}
			aliceID, aliceKey, err := v.Key(ctx, "sto_1", "alice", true)
			if err != nil {
				t.Fatal(err)
			}
			bobID, _, err := v.Key(ctx, "sto_1", "bob", true)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := v.Destroy(ctx, "sto_1", "bob"); err != nil {
				t.Fatal(err)
			}
			v.Close()

			if v, err := open(newK); err == nil {
				v.Close()
				t.Fatal("the vault opened under a key that never sealed it")
			}
			v, err = open(newK, oldK)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range []int64{2, 0} { // the index key and Alice's; then nothing
				st, err := v.Reseal(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if st.Checked != 2 || st.Resealed != want || st.Remaining[newK.ID()] != 2 || len(st.Remaining) != 1 {
					t.Fatalf("reseal %d: %+v, want 2 checked, %d re-sealed, both under %s", i+1, st, want, newK.ID())
				}
			}
			v.Close()

			v, err = open(newK) // the old key removed
			if err != nil {
				t.Fatalf("the vault after reseal, under the new key alone: %v", err)
			}
			defer v.Close()
			id, key, err := v.Key(ctx, "sto_1", "alice", false)
			if err != nil || id != aliceID || !bytes.Equal(key, aliceKey) {
				t.Fatalf("Alice after reseal: %s %v; want her subject %s and the same key", id, err, aliceID)
			}
			if _, err := v.KeyByID(ctx, bobID); !errors.Is(err, ErrErased) {
				t.Fatalf("Bob after reseal: %v, want erased", err)
			}
			if _, _, err := v.Key(ctx, "sto_1", "bob", false); !errors.Is(err, ErrErased) {
				t.Fatalf("Bob's lookup after reseal: %v, want erased", err)
			}
		})
	}
}

// TestVaultResealNeedsAKey: without an encryption key there is nothing to
// re-seal under, and Reseal says so rather than rewriting keys in plain.
func TestVaultResealNeedsAKey(t *testing.T) {
	kr, _ := fieldcrypt.NewKeyring()
	v, err := Open(context.Background(), filepath.Join(t.TempDir(), "v.db"), kr)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Reseal(context.Background()); err == nil {
		t.Fatal("reseal without a key succeeded")
	}
}
