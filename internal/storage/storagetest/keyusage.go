package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// testKeyScopeUse checks per-scope key use: recorded per (key, scope),
// only ever moved forward, listed by scope, and refused for unknown keys.
func testKeyScopeUse(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "scopes")
	k := newAPIKey(st, base)
	other := newAPIKey(st, base.Add(time.Millisecond))
	inTx(t, db, func(tx storage.Tx) error {
		if err := tx.CreateStore(ctx, st); err != nil {
			return err
		}
		if err := tx.CreateAPIKey(ctx, k); err != nil {
			return err
		}
		return tx.CreateAPIKey(ctx, other)
	})

	got, err := db.ListKeyScopeUse(ctx, k.ID)
	if err != nil || len(got) != 0 {
		t.Fatalf("never used key: %v, %v; want an empty list", got, err)
	}
	later := base.Add(time.Hour)
	touch := func(id string, s cryptopay.Scope, at time.Time) {
		t.Helper()
		inTx(t, db, func(tx storage.Tx) error { return tx.TouchKeyScope(ctx, id, s, at) })
	}
	touch(k.ID, cryptopay.ScopeInvoicesWrite, base)
	touch(k.ID, cryptopay.ScopeInvoicesRead, base)
	touch(k.ID, cryptopay.ScopeInvoicesRead, later)
	touch(k.ID, cryptopay.ScopeInvoicesRead, base.Add(time.Minute)) // late writer: must not move back
	touch(other.ID, cryptopay.ScopeInvoicesWrite, later)

	cases := []struct {
		name string
		key  string
		want []storage.KeyScopeUse
	}{
		{"two scopes, newest time kept", k.ID, []storage.KeyScopeUse{
			{KeyID: k.ID, Scope: cryptopay.ScopeInvoicesRead, LastUsedAt: us(later)},
			{KeyID: k.ID, Scope: cryptopay.ScopeInvoicesWrite, LastUsedAt: us(base)},
		}},
		{"other key apart", other.ID, []storage.KeyScopeUse{
			{KeyID: other.ID, Scope: cryptopay.ScopeInvoicesWrite, LastUsedAt: us(later)},
		}},
		{"unknown key", "key_missing", []storage.KeyScopeUse{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.ListKeyScopeUse(ctx, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			diff(t, "scope use", tc.want, got)
		})
	}

	// Inside a transaction the write is visible to the same transaction.
	inTx(t, db, func(tx storage.Tx) error {
		if err := tx.TouchKeyScope(ctx, other.ID, cryptopay.ScopeInvoicesRead, later); err != nil {
			return err
		}
		got, err := tx.ListKeyScopeUse(ctx, other.ID)
		if err == nil && len(got) != 2 {
			t.Errorf("own write not visible: %v", got)
		}
		return err
	})

	err = db.InTx(ctx, func(tx storage.Tx) error {
		return tx.TouchKeyScope(ctx, "key_missing", cryptopay.ScopeInvoicesRead, base)
	})
	if !errors.Is(err, storage.ErrForeignKey) {
		t.Errorf("unknown key: %v, want ErrForeignKey", err)
	}
}
