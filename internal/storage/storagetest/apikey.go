package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

func newAPIKey(st *cryptopay.Store, at time.Time) *cryptopay.APIKey {
	secret := cryptopay.NewAPIKeySecret(st.Livemode)
	return &cryptopay.APIKey{
		ID:        cryptopay.NewID(cryptopay.PrefixAPIKey, at),
		StoreID:   st.ID,
		Name:      "checkout",
		Livemode:  st.Livemode,
		Hash:      cryptopay.HashAPIKeySecret(secret),
		Last4:     cryptopay.APIKeyLast4(secret),
		Scopes:    []cryptopay.Scope{cryptopay.ScopeInvoicesRead, cryptopay.ScopeInvoicesWrite},
		CreatedAt: at,
		ExpiresAt: at.Add(cryptopay.DefaultKeyTTL),
	}
}

func wantAPIKey(in *cryptopay.APIKey) *cryptopay.APIKey {
	w := *in
	w.CreatedAt, w.ExpiresAt = us(in.CreatedAt), us(in.ExpiresAt)
	if in.RevokedAt != nil {
		w.RevokedAt = usp(*in.RevokedAt)
	}
	if in.LastUsedAt != nil {
		w.LastUsedAt = usp(*in.LastUsedAt)
	}
	return &w
}

func testAPIKey(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "keys")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })

	plain := newAPIKey(st, base) // AllowedIPs nil: any address
	emptyIPs := newAPIKey(st, base.Add(time.Millisecond))
	emptyIPs.AllowedIPs = []string{}
	full := newAPIKey(st, base.Add(2*time.Millisecond))
	full.AllowedIPs = []string{"192.0.2.0/24", "2001:db8::/32"}
	full.RevokedAt = new(base.Add(time.Hour))
	full.LastUsedAt = new(base.Add(time.Minute))
	full.LastUsedIP = "192.0.2.7"
	full.RotatedTo = "key_successor"
	keys := []*cryptopay.APIKey{plain, emptyIPs, full}
	inTx(t, db, func(tx storage.Tx) error {
		for _, k := range keys {
			if err := tx.CreateAPIKey(ctx, k); err != nil {
				return err
			}
		}
		return nil
	})

	for _, k := range keys {
		got, err := db.GetAPIKey(ctx, k.ID)
		if err != nil {
			t.Fatalf("GetAPIKey: %v", err)
		}
		diff(t, "GetAPIKey", wantAPIKey(k), got)
		got, err = db.GetAPIKeyByHash(ctx, k.Hash)
		if err != nil {
			t.Fatalf("GetAPIKeyByHash: %v", err)
		}
		diff(t, "GetAPIKeyByHash", wantAPIKey(k), got)
	}
	list, err := db.ListAPIKeys(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListAPIKeys (newest first)",
		[]cryptopay.APIKey{*wantAPIKey(full), *wantAPIKey(emptyIPs), *wantAPIKey(plain)}, list)
	if list, err := db.ListAPIKeys(ctx, "sto_missing"); err != nil || len(list) != 0 {
		t.Errorf("ListAPIKeys(unknown store) = %v, %v; want empty", list, err)
	}

	_, err = db.GetAPIKey(ctx, "key_missing")
	wantNotFound(t, "GetAPIKey unknown", err)
	_, err = db.GetAPIKeyByHash(ctx, make([]byte, 32))
	wantNotFound(t, "GetAPIKeyByHash unknown", err)

	t.Run("hash conflict leaves the transaction usable", func(t *testing.T) {
		dup := newAPIKey(st, base.Add(3*time.Millisecond))
		dup.Hash = plain.Hash
		other := newAPIKey(st, base.Add(4*time.Millisecond))
		inTx(t, db, func(tx storage.Tx) error {
			wantConflict(t, tx.CreateAPIKey(ctx, dup), "api_keys_hash_key")
			return tx.CreateAPIKey(ctx, other)
		})
		if _, err := db.GetAPIKey(ctx, other.ID); err != nil {
			t.Errorf("key written after the conflict: %v", err)
		}
		_, err := db.GetAPIKey(ctx, dup.ID)
		wantNotFound(t, "conflicting key", err)
	})

	t.Run("unknown store", func(t *testing.T) {
		orphan := newAPIKey(&cryptopay.Store{ID: "sto_missing"}, base)
		err := db.InTx(ctx, func(tx storage.Tx) error { return tx.CreateAPIKey(ctx, orphan) })
		if !errors.Is(err, storage.ErrForeignKey) {
			t.Fatalf("got %v, want ErrForeignKey", err)
		}
	})

	t.Run("update and touch", func(t *testing.T) {
		revoked := base.Add(2 * time.Hour)
		upd := *plain
		upd.RevokedAt, upd.RotatedTo = &revoked, "key_next"
		upd.Name = "ignored: not a mutable field"
		inTx(t, db, func(tx storage.Tx) error { return tx.UpdateAPIKey(ctx, &upd) })
		used := base.Add(3 * time.Hour)
		inTx(t, db, func(tx storage.Tx) error { return tx.TouchAPIKey(ctx, plain.ID, used, "198.51.100.1") })

		want := wantAPIKey(plain)
		want.RevokedAt, want.RotatedTo = usp(revoked), "key_next"
		want.LastUsedAt, want.LastUsedIP = usp(used), "198.51.100.1"
		got, err := db.GetAPIKey(ctx, plain.ID)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "after update and touch", want, got)

		// Un-revoking writes NULL back.
		upd.RevokedAt = nil
		inTx(t, db, func(tx storage.Tx) error { return tx.UpdateAPIKey(ctx, &upd) })
		if got, _ := db.GetAPIKey(ctx, plain.ID); got == nil || got.RevokedAt != nil {
			t.Errorf("RevokedAt after clearing = %v, want nil", got)
		}

		missing := newAPIKey(st, base)
		err = db.InTx(ctx, func(tx storage.Tx) error { return tx.UpdateAPIKey(ctx, missing) })
		wantNotFound(t, "UpdateAPIKey unknown", err)
		err = db.InTx(ctx, func(tx storage.Tx) error { return tx.TouchAPIKey(ctx, missing.ID, used, "") })
		wantNotFound(t, "TouchAPIKey unknown", err)
	})
}
