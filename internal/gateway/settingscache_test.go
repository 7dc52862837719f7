package gateway

import (
	"fmt"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/rates"
)

// TestSettingsChangesReachEveryInstance: a store's compliance settings are
// cached on the invoice path, yet a limit set on one instance is enforced
// by that instance on its very next invoice and by another within
// SettingsCacheTTL (1 s); lifting it works the same way.
func TestSettingsChangesReachEveryInstance(t *testing.T) {
	// The bound the README promises (not SettingsCacheTTL, so that a
	// longer cache fails here), plus scheduling slack on a loaded machine.
	const bound = time.Second + 300*time.Millisecond
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			a, b := twoInstances(t, engine)
			rs, err := rates.ParseStatic("BTC_USD=50000.00")
			if err != nil {
				t.Fatal(err)
			}
			a.rates, b.rates = rs, rs
			ctx := operatorCtx(t)
			st, err := a.CreateStore(ctx, StoreParams{Name: "shop", DefaultCurrency: "USD",
				Wallets: []WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: regtestVpub(t, 0)}}})
			if err != nil {
				t.Fatal(err)
			}
			ck, err := a.CreateKey(ctx, KeyParams{StoreID: st.ID, Name: "shop", Scopes: []string{"invoices:write"}})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			create := func(svc *Service) error {
				n++
				_, err := svc.CreateInvoice(t.Context(), ck.Key, InvoiceParams{OrderID: fmt.Sprintf("o-%d", n), Amount: "100.00", Currency: "USD"})
				return err
			}
			limited := func(err error) bool { return cryptopay.ErrorCode(err) == cryptopay.CodeLimitExceeded }
			// Both instances have read (and cached) "no limits".
			for _, svc := range []*Service{a, b} {
				if err := create(svc); err != nil {
					t.Fatalf("no limit set, yet: %v", err)
				}
			}
			within := func(svc *Service, want bool, start time.Time, bound time.Duration) {
				t.Helper()
				for {
					err := create(svc)
					if err != nil && !limited(err) {
						t.Fatal(err)
					}
					if limited(err) == want {
						return
					}
					if time.Since(start) > bound {
						t.Fatalf("limited = %v %v after the change; the bound is %v", !want, time.Since(start), bound)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			start := time.Now()
			if _, err := a.SetCompliance(ctx, st.ID, ComplianceParams{MaxInvoice: "50.00"}); err != nil {
				t.Fatal(err)
			}
			within(a, true, start, 0) // the instance that changed it: at once
			within(b, true, start, bound)

			start = time.Now()
			if _, err := a.SetCompliance(ctx, st.ID, ComplianceParams{}); err != nil {
				t.Fatal(err)
			}
			within(a, false, start, 0)
			within(b, false, start, bound)
		})
	}
}
