package gateway

import (
	"crypto/pbkdf2"
	"crypto/sha512"
	"net/netip"
	"testing"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/account"
)

// TestIncidentFreezeRevokeAndUnfreeze: a freeze refuses live invoices
// (503 frozen) and not test ones, is idempotent, audited and listed until
// unfreeze; revoke-keys revokes every key at once and lists them, and a
// revoked key no longer authenticates.
func TestIncidentFreezeRevokeAndUnfreeze(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			svc, _ := newTestService(t, e.open)
			ctx := operatorCtx(t)
			seed, err := pbkdf2.Key(sha512.New, "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", []byte("mnemonic"), 2048, 64)
			if err != nil {
				t.Fatal(err)
			}
			_, zpub, err := account.DeriveAccountFromSeed(seed, account.Mainnet, 0)
			if err != nil {
				t.Fatal(err)
			}
			live, err := svc.CreateStore(ctx, StoreParams{Name: "live", Livemode: true,
				Wallets: []WalletParams{{Network: string(cryptopay.NetworkBitcoin), AccountKey: zpub}}})
			if err != nil {
				t.Fatal(err)
			}
			test, err := svc.CreateStore(ctx, StoreParams{Name: "test",
				Wallets: []WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: regtestVpub(t, 0)}}})
			if err != nil {
				t.Fatal(err)
			}
			lk, err := svc.CreateKey(ctx, KeyParams{StoreID: live.ID, Livemode: true, Name: "shop", Scopes: []string{"invoices:write"}})
			if err != nil {
				t.Fatal(err)
			}
			tk, err := svc.CreateKey(ctx, KeyParams{StoreID: test.ID, Name: "shop", Scopes: []string{"invoices:write"}})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			create := func(k *cryptopay.APIKey) error {
				n++
				_, err := svc.CreateInvoice(ctx, k, InvoiceParams{OrderID: "o-" + string(rune('a'+n)), Amount: "0.001", Currency: "BTC"})
				return err
			}
			first, err := svc.Freeze(ctx, "suspected key leak")
			if err != nil {
				t.Fatal(err)
			}
			if again, err := svc.Freeze(ctx, "again"); err != nil || again.ID != first.ID {
				t.Fatalf("second freeze: %v %v; want the same freeze %s", again, err, first.ID)
			}
			if err := create(lk.Key); cryptopay.ErrorCode(err) != cryptopay.CodeFrozen {
				t.Fatalf("live invoice while frozen: %v, want frozen", err)
			}
			if err := create(tk.Key); err != nil {
				t.Fatalf("test invoice while frozen: %v", err)
			}
			revoked, err := svc.RevokeAllKeys(ctx, "")
			if err != nil || len(revoked) != 2 {
				t.Fatalf("revoked %d keys (%v), want 2", len(revoked), err)
			}
			if _, err := svc.Authenticate(t.Context(), lk.Secret, netip.MustParseAddr("127.0.0.1")); err == nil {
				t.Fatal("a revoked key still authenticates")
			}
			acts, err := svc.IncidentActions(ctx)
			if err != nil || len(acts) != 2 || acts[0].Action != IncidentFreeze || acts[1].Action != IncidentRevoke {
				t.Fatalf("incident actions = %+v (%v)", acts, err)
			}
			for _, action := range []string{AuditIncidentFreeze, AuditIncidentRevoke} {
				es, _, err := svc.ListAuditEntries(ctx, nil, AuditQuery{Action: action})
				if err != nil || len(es) != 1 {
					t.Fatalf("%s audited %d times (%v), want once", action, len(es), err)
				}
			}
			if closed, err := svc.Unfreeze(ctx); err != nil || closed != 2 {
				t.Fatalf("unfreeze closed %d (%v), want 2", closed, err)
			}
			if closed, err := svc.Unfreeze(ctx); err != nil || closed != 0 {
				t.Fatalf("second unfreeze closed %d (%v), want 0", closed, err)
			}
			lk2, err := svc.CreateKey(ctx, KeyParams{StoreID: live.ID, Livemode: true, Name: "shop", Scopes: []string{"invoices:write"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := create(lk2.Key); err != nil {
				t.Fatalf("live invoice after unfreeze: %v", err)
			}
		})
	}
}
