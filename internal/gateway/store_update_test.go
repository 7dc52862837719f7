package gateway

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// TestUpdateStore: each bad value is refused naming its field and changes
// nothing (the creation rules, including the reorg limit); a good change
// applies only the fields given; concurrent changes of different fields
// both survive (the row is locked for the read-modify-write).
func TestUpdateStore(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		svc := New(Config{DB: db, Outbox: eventsOnly{}, ReorgLimit: 50})
		ctx := operatorCtx(t)
		st, err := svc.CreateStore(ctx, StoreParams{Name: "shop", Wallets: []WalletParams{{Network: "bitcoin-regtest", AccountKey: regtestVpub(t, 4)}}})
		if err != nil {
			t.Fatal(err)
		}
		str := func(s string) *string { return &s }
		dur := func(d time.Duration) *time.Duration { return &d }
		num := func(n int) *int { return &n }
		deep := cryptopay.ConfirmationPolicy{Currency: "USD", Above: 60}
		for _, c := range []struct {
			name, param string
			u           StoreUpdate
		}{
			{"empty name", "name", StoreUpdate{Name: str("   ")}},
			{"control character in name", "name", StoreUpdate{Name: str("shop\x00")}},
			{"expiry under a minute", "invoice_expiry", StoreUpdate{InvoiceExpiry: dur(30 * time.Second)}},
			{"window beyond 30 days", "monitoring_window", StoreUpdate{MonitoringWindow: dur(31 * 24 * time.Hour)}},
			{"negative tolerance", "tolerance", StoreUpdate{ToleranceBasisPoints: num(-1)}},
			{"spread above 20 %", "rate_spread", StoreUpdate{RateSpreadBasisPoints: num(2001)}},
			{"tiers beyond the reorg limit", "confirmations", StoreUpdate{Confirmations: &deep}},
			{"good name, bad expiry", "invoice_expiry", StoreUpdate{Name: str("renamed"), InvoiceExpiry: dur(0)}},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := svc.UpdateStore(ctx, st.ID, c.u)
				var ce *cryptopay.Error
				if !errors.As(err, &ce) || ce.Code != cryptopay.CodeInvalid || ce.Param != c.param {
					t.Fatalf("err %v, want invalid %s", err, c.param)
				}
				if got, _ := svc.GetStore(ctx, st.ID); got.Name != "shop" || got.InvoiceExpiry != cryptopay.DefaultInvoiceExpiry {
					t.Errorf("a refused change changed the store: %+v", got)
				}
			})
		}
		if _, err := svc.UpdateStore(ctx, "sto_missing", StoreUpdate{Name: str("x")}); err == nil {
			t.Error("an unknown store was updated")
		}

		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { _, errs[0] = svc.UpdateStore(ctx, st.ID, StoreUpdate{Name: str("renamed")}) })
		wg.Go(func() { _, errs[1] = svc.UpdateStore(ctx, st.ID, StoreUpdate{ToleranceBasisPoints: num(75)}) })
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		got, _ := svc.GetStore(ctx, st.ID)
		if got.Name != "renamed" || got.ToleranceBasisPoints != 75 || got.InvoiceExpiry != cryptopay.DefaultInvoiceExpiry || got.Wallets[0].AccountKey != regtestVpub(t, 4) {
			t.Errorf("after two concurrent changes: %+v; want both, and nothing else changed", got)
		}
		es, _, _ := svc.ListAuditEntries(ctx, nil, AuditQuery{StoreID: st.ID, Action: AuditStoreUpdated, Limit: 10})
		if len(es) != 2 {
			t.Errorf("%d store.updated audit entries, want 2", len(es))
		}
	})
}
