package rates

import (
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
)

// decimalRE is the only number shape a provider's price may take: plain
// decimal digits with an optional fraction and an optional short exponent
// (CoinGecko's JSON numbers may use one). No sign, no hex, no fractions
// like "1/3", none of which big.Rat.SetString would refuse on its own.
var decimalRE = regexp.MustCompile(`^[0-9]{1,30}(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,2})?$`)

// parseDecimal parses a provider's price exactly. It refuses zero,
// negative and malformed values: a price is a positive decimal or nothing.
func parseDecimal(s string) (*big.Rat, error) {
	if !decimalRE.MatchString(s) {
		return nil, fmt.Errorf("price %q is not a plain positive decimal", truncate(s))
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("price %q is not a decimal", truncate(s))
	}
	if r.Sign() <= 0 {
		return nil, fmt.Errorf("price %q is not positive", truncate(s))
	}
	return r, nil
}

// parseJSONPrice parses a price given either as a JSON string ("67000.1")
// or as a JSON number token (67000.1, kept as text by json.Number), never
// through a float.
func parseJSONPrice(raw json.RawMessage) (*big.Rat, error) {
	var s string
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
	} else {
		s = string(raw)
	}
	return parseDecimal(s)
}

// truncate keeps error messages (which reach logs and /v1/rates) short
// whatever a provider sent.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// formatRate renders a rate with enough decimals for the quote currency
// (its minor units plus six), the precision invoices store.
func formatRate(r *big.Rat, quote string) string {
	return r.FloatString(quoteDecimals(quote) + 6)
}
