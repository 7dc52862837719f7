package cryptopay

import (
	"slices"
	"strings"
)

// Currency is a unit an invoice can be priced in: a fiat currency (ISO 4217
// code and minor-unit precision) or a crypto asset priced directly.
type Currency struct {
	Code     string
	Decimals int
	Crypto   bool
}

// currencies is the closed set of supported pricing currencies.
var currencies = map[string]Currency{
	"BTC": {Code: "BTC", Decimals: 8, Crypto: true},
	// EVM assets: ether in wei; USDC and USDT below in their 6-decimal
	// base units (the decimals are checked against each configured token
	// contract at start).
	"ETH": {Code: "ETH", Decimals: 18, Crypto: true},
	"USD": {Code: "USD", Decimals: 2},
	"EUR": {Code: "EUR", Decimals: 2},
	"GBP": {Code: "GBP", Decimals: 2},
	"CHF": {Code: "CHF", Decimals: 2},
	"CAD": {Code: "CAD", Decimals: 2},
	"AUD": {Code: "AUD", Decimals: 2},
	"JPY": {Code: "JPY", Decimals: 0},
	// Stablecoins, priced against USD behind the de-peg guard
	// (internal/rates), for the Ethereum networks.
	"USDT": {Code: "USDT", Decimals: 6, Crypto: true},
	"USDC": {Code: "USDC", Decimals: 6, Crypto: true},
}

// LookupCurrency returns the currency with the given code. Codes are
// upper-case; "usd" is not accepted, so that what the shop sent is what the
// webhook echoes back.
func LookupCurrency(code string) (Currency, bool) {
	c, ok := currencies[code]
	return c, ok
}

// CurrencyCodes returns the supported codes, sorted.
func CurrencyCodes() []string {
	codes := make([]string, 0, len(currencies))
	for c := range currencies {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	return codes
}

// ParseCurrency returns the currency for code or a CodeInvalid error naming
// param and listing the supported codes.
func ParseCurrency(param, code string) (Currency, error) {
	if code == "" {
		return Currency{}, Invalid(param, "%s is required.", param)
	}
	c, ok := LookupCurrency(code)
	if !ok {
		return Currency{}, Invalid(param, "%s %q is not supported; use one of %s.", param, code, strings.Join(CurrencyCodes(), ", "))
	}
	return c, nil
}
