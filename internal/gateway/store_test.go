package gateway

import (
	"testing"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// TestCreateStoreRefusesASharedAccountKey: two stores on one key would
// hand out the same deposit addresses, so the second is refused and
// nothing is written.
func TestCreateStoreRefusesASharedAccountKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		svc := New(Config{DB: db, Outbox: eventsOnly{}})
		vpub := regtestVpub(t, 7)
		if _, err := svc.CreateStore(t.Context(), StoreParams{Name: "first",
			Wallets: []WalletParams{{Network: "bitcoin-regtest", AccountKey: vpub}}}); err != nil {
			t.Fatal(err)
		}
		_, err := svc.CreateStore(t.Context(), StoreParams{Name: "second",
			Wallets: []WalletParams{{Network: "bitcoin-regtest", AccountKey: vpub}}})
		e, ok := err.(*cryptopay.Error)
		if !ok || e.Code != cryptopay.CodeConflict || e.Param != "wallets" {
			t.Fatalf("second store on the same key: %v; want a conflict naming wallets", err)
		}
		stores, _ := svc.ListStores(t.Context())
		if len(stores) != 1 {
			t.Fatalf("%d stores after the refusal, want 1", len(stores))
		}
	})
}
