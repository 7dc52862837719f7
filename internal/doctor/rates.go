package doctor

import (
	"context"
	"fmt"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/rates"
)

// checkExchangeRates: every live store whose default or confirmation-policy
// currency is fiat needs a reliable BTC rate in it now (a healthy quorum of
// live providers, or the static table), or its fiat invoices fail with
// rates_unavailable and its tiers fall to the highest.
func checkExchangeRates(ctx context.Context, in *Input) Result {
	if in.DB == nil {
		return skip("no database")
	}
	if in.Rates == nil {
		return skip("rates not checked")
	}
	stores, err := in.DB.ListStores(ctx)
	if err != nil {
		return fail("cannot list stores: "+err.Error(), "check CRYPTOPAY_DATABASE_URL")
	}
	st, ok := in.Rates(ctx)
	healthy := map[string]rates.PairStatus{}
	if ok {
		for _, p := range st.Pairs {
			healthy[p.Pair] = p
		}
	}
	var bad []string
	checked := 0
	for _, s := range stores {
		if !s.Livemode {
			continue
		}
		seen := map[string]bool{}
		for _, cur := range []string{s.DefaultCurrency, s.Confirmations.Currency} {
			c, known := cryptopay.LookupCurrency(cur)
			if !known || c.Crypto || seen[cur] {
				continue
			}
			seen[cur] = true
			checked++
			pair := "BTC_" + cur
			switch p, found := healthy[pair]; {
			case !ok:
				bad = append(bad, fmt.Sprintf("%s prices in %s but no exchange rates are configured", s.ID, cur))
			case !found:
				bad = append(bad, fmt.Sprintf("%s prices in %s but no source provides %s", s.ID, cur, pair))
			case !p.Healthy:
				bad = append(bad, fmt.Sprintf("%s prices in %s: %s", s.ID, cur, p.Reason))
			}
		}
	}
	if len(bad) > 0 {
		return fail("no reliable exchange rate for live stores: "+list(bad),
			"check the providers' reachability (cryptopay rates), CRYPTOPAY_RATES_SOURCES and the *_URL overrides, or set CRYPTOPAY_RATES")
	}
	if checked == 0 {
		return pass("no live store prices in a fiat currency")
	}
	return pass(fmt.Sprintf("%d live store currency(ies) priced by a healthy quorum", checked))
}
