package cryptopay

import (
	"math/big"
	"testing"
)

// TestPow10Table checks the shared powers of ten against computing them,
// also after pricing has used them as operands: a caller that wrote into
// one would change every later price.
func TestPow10Table(t *testing.T) {
	check := func(when string) {
		t.Helper()
		for n := range 45 {
			want := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
			if got := pow10(n); got.Cmp(want) != 0 {
				t.Fatalf("%s: pow10(%d) = %s, want %s", when, n, got, want)
			}
		}
	}
	check("fresh")
	btc, _ := LookupCurrency("BTC")
	eth, _ := LookupCurrency("ETH")
	usd, _ := LookupCurrency("USD")
	rate := big.NewRat(6500000, 100)
	for _, asset := range []Currency{btc, eth} {
		due := CryptoDue(big.NewInt(2500), usd, rate, asset)
		if back := FiatValue(due, asset, rate, usd); back.Cmp(big.NewInt(2500)) != 0 {
			t.Errorf("%s: 25.00 USD is %s base units, worth %s cents back", asset.Code, due, back)
		}
	}
	check("after pricing")
}
