package gateway

import (
	"errors"
	"testing"

	"github.com/cryptopay/cryptopay"
)

// TestPricesOf: a decimal price becomes one stored amount per number of
// base units, each with the currencies it applies to; currencies with too
// few decimals for it are left out. The expected base units are written
// out by hand, not computed.
func TestPricesOf(t *testing.T) {
	tests := []struct {
		name   string
		amount string
		want   map[string][]string // base units → currencies
	}{
		{"whole number: every currency", "12", map[string][]string{
			"12":                   {"JPY"},
			"1200":                 {"AUD", "CAD", "CHF", "EUR", "GBP", "USD"},
			"12000000":             {"USDC", "USDT"},
			"1200000000":           {"BTC"},
			"12000000000000000000": {"ETH"},
		}},
		{"cents: not yen", "12.50", map[string][]string{
			"1250":                 {"AUD", "CAD", "CHF", "EUR", "GBP", "USD"},
			"12500000":             {"USDC", "USDT"},
			"1250000000":           {"BTC"},
			"12500000000000000000": {"ETH"},
		}},
		{"satoshi: crypto with 8 decimals or more", "0.00000001", map[string][]string{
			"1":           {"BTC"},
			"10000000000": {"ETH"},
		}},
		{"wei: ether only", "0.000000000000000001", map[string][]string{"1": {"ETH"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pricesOf(tc.amount)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string][]string{}
			for _, p := range got {
				m[p.Amount.String()] = p.Currencies
			}
			for units, curs := range tc.want {
				g := m[units]
				// Only currencies the catalogue has are compared (it may grow).
				for _, c := range curs {
					if _, ok := cryptopay.LookupCurrency(c); !ok {
						continue
					}
					found := false
					for _, x := range g {
						found = found || x == c
					}
					if !found {
						t.Errorf("%s %s: %s missing from %v", tc.amount, units, c, g)
					}
				}
			}
			for units := range m {
				if _, ok := tc.want[units]; !ok {
					t.Errorf("%s: unexpected base units %s for %v", tc.amount, units, m[units])
				}
			}
		})
	}
	for _, bad := range []string{"", "-1", "1e3", "0", "1,5", "01.5", "0.0000000000000000001"} {
		_, err := pricesOf(bad)
		var e *cryptopay.Error
		if !errors.As(err, &e) || e.Param != "amount" {
			t.Errorf("pricesOf(%q) = %v, want an error naming amount", bad, err)
		}
	}
}

func TestFlagNamed(t *testing.T) {
	for _, tc := range []struct {
		name string
		want cryptopay.Flag
		ok   bool
	}{
		{"paid_over", cryptopay.FlagPaidOver, true},
		{"wrong_asset", cryptopay.FlagWrongAsset, true},
		{"held", cryptopay.FlagHeld, true},
		{"PAID_OVER", 0, false},
		{"", 0, false},
		{"paid_over,held", 0, false},
	} {
		if got, ok := flagNamed(tc.name); got != tc.want || ok != tc.ok {
			t.Errorf("flagNamed(%q) = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
