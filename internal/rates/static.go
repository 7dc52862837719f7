// Package rates holds the exchange-rate sources fiat invoices are priced
// from: clients of four public ticker APIs (Kraken, Coinbase, Bitstamp,
// CoinGecko), the Aggregator that refreshes them in the background and
// prices a pair at the median of its fresh, agreeing sources, and the
// operator's static table (CRYPTOPAY_RATES), which wins when set. Every
// rate is an exact rational parsed from the providers' decimal text; no
// float is on the path. It does not convert amounts (cryptopay.CryptoDue
// does) and never fetches on a request's path.
package rates

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
)

// Static is a fixed table of rates, keyed "ASSET_FIAT".
type Static map[string]*big.Rat

// ParseStatic parses "BTC_USD=65000.00,BTC_EUR=60000" (comma or space
// separated). Rates are exact decimals; a float never holds one.
func ParseStatic(s string) (Static, error) {
	out := Static{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		pair, val, ok := strings.Cut(f, "=")
		asset, fiat, ok2 := strings.Cut(pair, "_")
		if !ok || !ok2 {
			return nil, fmt.Errorf("rate %q: want ASSET_FIAT=DECIMAL, e.g. BTC_USD=65000.00", f)
		}
		a, okA := cryptopay.LookupCurrency(asset)
		c, okC := cryptopay.LookupCurrency(fiat)
		if !okA || !a.Crypto || !okC || c.Crypto {
			return nil, fmt.Errorf("rate %q: %s must be a crypto asset and %s a fiat currency", f, asset, fiat)
		}
		units, err := cryptopay.ParseAmount("rate", val, 12)
		if err != nil {
			return nil, fmt.Errorf("rate %q: %s", f, cryptopay.ErrorMessage(err))
		}
		out[asset+"_"+fiat] = new(big.Rat).SetFrac(units, new(big.Int).Exp(big.NewInt(10), big.NewInt(12), nil))
	}
	return out, nil
}

// Rate implements cryptopay.RateSource.
func (s Static) Rate(_ context.Context, asset, fiat string) (*big.Rat, error) {
	r, ok := s[asset+"_"+fiat]
	if !ok {
		return nil, &cryptopay.Error{Code: cryptopay.CodeRatesUnavailable, Param: "currency",
			Message: fmt.Sprintf("No %s/%s exchange rate is configured (static table CRYPTOPAY_RATES); price the invoice in %s.", asset, fiat, asset)}
	}
	return new(big.Rat).Set(r), nil
}

// Quote implements cryptopay.RateQuoter: the table's rate, its source
// "static", dated now (the operator vouches for it as current).
func (s Static) Quote(ctx context.Context, asset, fiat string) (cryptopay.RateQuote, error) {
	r, err := s.Rate(ctx, asset, fiat)
	if err != nil {
		return cryptopay.RateQuote{}, err
	}
	return cryptopay.RateQuote{Rate: r, Sources: []string{"static"}, At: time.Now().UTC().Truncate(time.Second)}, nil
}

// Status shows the table as healthy pairs from the source "static".
func (s Static) Status() Status {
	now := time.Now().UTC()
	st := Status{At: now, Quorum: 1}
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p, _ := ParsePair(k)
		at := now
		st.Pairs = append(st.Pairs, PairStatus{Pair: k, Healthy: true, Rate: formatRate(s[k], p.Quote), Sources: []string{"static"}, At: &at,
			PerSource: []SourceValue{{Source: "static", State: StateOK, Rate: formatRate(s[k], p.Quote), At: now}}})
	}
	st.Sources = []SourceHealth{{Source: "static", LastSuccess: now, LastAttempt: now}}
	return st
}
