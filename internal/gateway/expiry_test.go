package gateway

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// TestAdvanceDueOnlyOnTheNetworksItOwns: the time-only loop expires the
// invoices of the networks it is given (those no chain watcher follows)
// by the wall clock, and never touches another network's: a watched
// network has one owner, its watcher.
func TestAdvanceDueOnlyOnTheNetworksItOwns(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		var offset atomic.Int64
		now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		rs, _ := rates.ParseStatic("BTC_USD=65000.00")
		svc := New(Config{DB: db, Outbox: eventsOnly{}, Rates: rs, Now: now})
		st, err := svc.CreateStore(t.Context(), StoreParams{Name: "shop",
			Wallets: []WalletParams{{Network: "bitcoin-regtest", AccountKey: regtestVpub(t, 3)}}})
		if err != nil {
			t.Fatal(err)
		}
		ck, err := svc.CreateKey(t.Context(), KeyParams{StoreID: st.ID, Scopes: []string{"invoices:write"}})
		if err != nil {
			t.Fatal(err)
		}
		inv, err := svc.CreateInvoice(t.Context(), ck.Key, InvoiceParams{OrderID: "o", Amount: "0.001", Currency: "BTC", ExpiresIn: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		offset.Store(int64(2 * time.Minute))
		if n, err := svc.AdvanceDue(t.Context(), []cryptopay.Network{cryptopay.NetworkBitcoin, cryptopay.NetworkBitcoinTestnet}); err != nil || n != 0 {
			t.Fatalf("AdvanceDue on other networks moved %d, %v", n, err)
		}
		if got, _ := db.GetInvoice(t.Context(), inv.ID); got.Status != cryptopay.StatusNew {
			t.Fatalf("another network's loop moved the invoice to %s", got.Status)
		}
		if n, err := svc.AdvanceDue(t.Context(), []cryptopay.Network{cryptopay.NetworkBitcoinRegtest}); err != nil || n != 1 {
			t.Fatalf("AdvanceDue on its network moved %d, %v; want 1", n, err)
		}
		if got, _ := db.GetInvoice(t.Context(), inv.ID); got.Status != cryptopay.StatusExpired {
			t.Fatalf("invoice after the time-only loop: %s", got.Status)
		}
	})
}
