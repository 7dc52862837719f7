package cryptopay

import (
	"context"
	"math/big"
	"time"
)

// RateSource prices a crypto asset in a fiat currency. Rates are exact
// rationals parsed from decimal strings, never floats.
type RateSource interface {
	// Rate returns the price of one whole unit of asset in fiat (for
	// example 65000.00 USD per BTC). It returns a CodeUnavailable *Error
	// when no rate is known.
	Rate(ctx context.Context, asset, fiat string) (*big.Rat, error)
}

// RateQuote is a rate with where it came from, as an invoice locks it.
type RateQuote struct {
	Rate    *big.Rat
	Sources []string  // the providers whose median it is (sorted), or "static"
	At      time.Time // the oldest price it rests on
}

// RateQuoter is a RateSource that also says where a rate came from. It
// returns a CodeRatesUnavailable *Error when no reliable rate is known.
type RateQuoter interface {
	RateSource
	Quote(ctx context.Context, asset, fiat string) (RateQuote, error)
}

// QuoteRate asks rs for a quote, through Quote when rs has one.
func QuoteRate(ctx context.Context, rs RateSource, asset, fiat string) (RateQuote, error) {
	if q, ok := rs.(RateQuoter); ok {
		return q.Quote(ctx, asset, fiat)
	}
	r, err := rs.Rate(ctx, asset, fiat)
	if err != nil {
		return RateQuote{}, err
	}
	return RateQuote{Rate: r}, nil
}

// ApplySpread returns rate lowered by spreadBP basis points (1/100 of a
// percent): the store's margin, so the payer sends that much more crypto.
func ApplySpread(rate *big.Rat, spreadBP int) *big.Rat {
	f := big.NewRat(int64(10000-spreadBP), 10000)
	return f.Mul(f, rate)
}

// CryptoDue converts a fiat amount (minor units of fiat) into base units of
// asset at rate, rounding up to the next base unit so the merchant is never
// short-changed by rounding.
func CryptoDue(amount *big.Int, fiat Currency, rate *big.Rat, asset Currency) *big.Int {
	// due = amount / 10^fiat.Decimals / rate * 10^asset.Decimals
	num := new(big.Int).Mul(amount, pow10(asset.Decimals))
	num.Mul(num, rate.Denom())
	den := new(big.Int).Mul(pow10(fiat.Decimals), rate.Num())
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}

// FiatValue converts base units of asset into minor units of fiat at rate,
// rounding down.
func FiatValue(units *big.Int, asset Currency, rate *big.Rat, fiat Currency) *big.Int {
	num := new(big.Int).Mul(units, rate.Num())
	num.Mul(num, pow10(fiat.Decimals))
	den := new(big.Int).Mul(rate.Denom(), pow10(asset.Decimals))
	return num.Quo(num, den)
}

// pow10 returns 10^n. The result is shared and must only be read (as an
// operand); for the decimals any currency has it comes from a table, so
// pricing an invoice does not compute the same powers on every request.
func pow10(n int) *big.Int {
	if n >= 0 && n < len(powersOf10) {
		return powersOf10[n]
	}
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// powersOf10 holds 10^0 through 10^38, beyond the 18 decimals of the
// finest asset.
var powersOf10 = func() []*big.Int {
	t := make([]*big.Int, 39)
	t[0] = big.NewInt(1)
	for i := 1; i < len(t); i++ {
		t[i] = new(big.Int).Mul(t[i-1], big.NewInt(10))
	}
	return t
}()
