package doctor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/rates"
)

// downProvider is a provider whose every refresh fails, as an unreachable
// one does.
type downProvider struct{ name string }

func (d downProvider) Name() string { return d.name }
func (d downProvider) Fetch(context.Context, []rates.Pair) ([]rates.Observation, error) {
	return nil, errors.New("dial tcp: connection refused")
}

func TestExchangeRatesCheck(t *testing.T) {
	ctx := context.Background()
	static := func(s string) func(context.Context) (rates.Status, bool) {
		return func(context.Context) (rates.Status, bool) {
			st, err := rates.ParseStatic(s)
			if err != nil {
				t.Fatal(err)
			}
			return st.Status(), true
		}
	}
	agg := rates.New(rates.Config{Providers: []rates.Provider{downProvider{"kraken"}, downProvider{"coinbase"}}, Timeout: time.Second})
	agg.Refresh(ctx)
	for _, tc := range []struct {
		name     string
		live     bool
		currency string
		rates    func(context.Context) (rates.Status, bool)
		want     Status
		mention  string
	}{
		{"no live store", false, "USD", static(""), Pass, "no live store"},
		{"live store, static rate for its currency", true, "USD", static("BTC_USD=65000.00"), Pass, "healthy"},
		{"live store, static table lacks its currency", true, "EUR", static("BTC_USD=65000.00"), Fail, "no source provides BTC_EUR"},
		{"live store, no rates at all", true, "USD", func(context.Context) (rates.Status, bool) { return rates.Status{}, false }, Fail, "no exchange rates are configured"},
		{"live store, every provider down", true, "USD", func(context.Context) (rates.Status, bool) { return agg.Status(), true }, Fail, "kraken down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t, nil, nil)
			if tc.live {
				if _, err := s.svc.CreateStore(ctx, gateway.StoreParams{Name: "Live", Livemode: true, DefaultCurrency: tc.currency,
					Wallets: []gateway.WalletParams{{Network: "bitcoin", AccountKey: bip84Zpub}}}); err != nil {
					t.Fatal(err)
				}
			}
			s.in.Rates = tc.rates
			r := checkExchangeRates(ctx, s.in)
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.mention) {
				t.Errorf("%s: %s, want %s mentioning %q", r.Status, r.Detail, tc.want, tc.mention)
			}
		})
	}
}
