package gateway

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
)

// waitReserved waits until no address reservation of svc is in flight and
// no reserved block is being derived, so a stop is taken at its worst:
// with the spare block already reserved.
func waitReserved(t *testing.T, svc *Service) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		busy := false
		svc.addrs.mu.Lock()
		for _, p := range svc.addrs.pools {
			p.mu.Lock()
			busy = busy || p.reserving != nil || p.deriving > 0
			p.mu.Unlock()
		}
		svc.addrs.mu.Unlock()
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("address reservation or derivation still in flight after 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAddressGapLimit: indexes are reserved ahead in the background, yet
// a process stopped after any number of invoices leaves fewer than 20
// unused addresses in a row before the next process's first invoice, so a
// wallet restored from its seed (gap limit 20) still finds every payment.
func TestAddressGapLimit(t *testing.T) {
	const gapLimit = 20
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			a, b := twoInstances(t, engine)
			ctx := operatorCtx(t)
			st, err := a.CreateStore(ctx, StoreParams{Name: "shop",
				Wallets: []WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: regtestVpub(t, 0)}}})
			if err != nil {
				t.Fatal(err)
			}
			ck, err := a.CreateKey(ctx, KeyParams{StoreID: st.ID, Name: "shop", Scopes: []string{"invoices:write"}})
			if err != nil {
				t.Fatal(err)
			}
			seq := 0
			create := func(svc *Service) uint32 {
				t.Helper()
				seq++
				inv, err := svc.CreateInvoice(t.Context(), ck.Key, InvoiceParams{OrderID: fmt.Sprintf("gap-%d", seq), Amount: "0.001", Currency: "BTC"})
				if err != nil {
					t.Fatal(err)
				}
				return inv.AddressIndex
			}
			// Each case: a process creates k invoices and stops (with its
			// spare block reserved), then the next process starts; they
			// alternate between the two database handles.
			var used []uint32
			for k := 1; k <= 2*addressBlockSize+1; k++ {
				db := a.db
				if k%2 == 0 {
					db = b.db
				}
				stopping := New(Config{DB: db, Outbox: eventsOnly{}})
				for range k {
					used = append(used, create(stopping))
				}
				waitReserved(t, stopping)
			}
			slices.Sort(used)
			if len(slices.Compact(slices.Clone(used))) != len(used) {
				t.Fatalf("an index was handed out twice: %v", used)
			}
			if used[0] != 0 {
				t.Errorf("first index %d, want 0", used[0])
			}
			for i := 1; i < len(used); i++ {
				if gap := used[i] - used[i-1] - 1; gap >= gapLimit {
					t.Errorf("%d unused addresses in a row between %d and %d; a wallet's gap limit is %d", gap, used[i-1], used[i], gapLimit)
				}
			}
		})
	}
}
