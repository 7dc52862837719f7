package config

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// LiveRates configures the live exchange-rate providers (internal/rates),
// used when CRYPTOPAY_RATES (the static table) is empty.
type LiveRates struct {
	Sources      []string          // provider names, in order; empty: live rates off
	URLs         map[string]string // provider -> base URL override
	Interval     time.Duration
	Timeout      time.Duration
	MaxAge       time.Duration
	MaxDeviation *big.Rat // fraction
	Quorum       int      // 0: 2, or 1 with a single source
	DepegLimit   *big.Rat // fraction
}

// rateProviders are the provider names CRYPTOPAY_RATES_SOURCES accepts, in
// their default order (internal/rates.ProviderNames; repeated here so the
// configuration does not import the providers).
var rateProviders = []string{"kraken", "coinbase", "bitstamp", "coingecko"}

// ratesVars are appended to Vars.
var ratesVars = []Var{
	{"CRYPTOPAY_RATES_SOURCES", "kraken,coinbase,bitstamp,coingecko", "Live exchange-rate providers for fiat invoices when CRYPTOPAY_RATES is empty; off disables live rates."},
	{"CRYPTOPAY_RATES_KRAKEN_URL", "https://api.kraken.com", "Base URL of Kraken's public API (a proxy or mirror in air-gapped setups)."},
	{"CRYPTOPAY_RATES_COINBASE_URL", "https://api.coinbase.com", "Base URL of Coinbase's public API."},
	{"CRYPTOPAY_RATES_BITSTAMP_URL", "https://www.bitstamp.net", "Base URL of Bitstamp's public API."},
	{"CRYPTOPAY_RATES_COINGECKO_URL", "https://api.coingecko.com", "Base URL of CoinGecko's public API."},
	{"CRYPTOPAY_RATES_REFRESH", "45s", "Mean time between refreshes of every provider; each wait is drawn between 2/3 and 4/3 of it (30-60 s by default)."},
	{"CRYPTOPAY_RATES_TIMEOUT", "10s", "How long one provider's refresh may take."},
	{"CRYPTOPAY_RATES_MAX_AGE", "3m", "A provider's price older than this is stale and no longer counts."},
	{"CRYPTOPAY_RATES_MAX_DEVIATION", "2%", "A provider further than this from the median of the others is left out and alerted."},
	{"CRYPTOPAY_RATES_QUORUM", "2", "How many fresh, agreeing providers a rate needs (1 when only one provider is configured); below it, fiat invoices in that currency get 503 rates_unavailable."},
	{"CRYPTOPAY_RATES_DEPEG_LIMIT", "2%", "A stablecoin (USDT, USDC) further than this from 1 USD is not priced, and alerted."},
}

func init() { Vars = append(Vars, ratesVars...) }

func loadLiveRates(env func(string) string) (LiveRates, error) {
	r := LiveRates{URLs: map[string]string{}}
	src := or(env("CRYPTOPAY_RATES_SOURCES"), strings.Join(rateProviders, ","))
	if !strings.EqualFold(src, "off") {
		seen := map[string]bool{}
		for _, s := range strings.Split(src, ",") {
			s = strings.ToLower(strings.TrimSpace(s))
			known := false
			for _, p := range rateProviders {
				known = known || p == s
			}
			if !known || seen[s] {
				return r, fmt.Errorf("CRYPTOPAY_RATES_SOURCES: %q is not a provider (or is named twice); use some of %s, or off", s, strings.Join(rateProviders, ", "))
			}
			seen[s] = true
			r.Sources = append(r.Sources, s)
		}
	}
	for _, p := range rateProviders {
		name := "CRYPTOPAY_RATES_" + strings.ToUpper(p) + "_URL"
		if v := env(name); v != "" {
			if !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
				return r, fmt.Errorf("%s: want an http(s) URL", name)
			}
			r.URLs[p] = v
		}
	}
	var err error
	if r.Interval, err = positiveDuration(env, "CRYPTOPAY_RATES_REFRESH", "45s"); err != nil {
		return r, err
	}
	if r.Timeout, err = positiveDuration(env, "CRYPTOPAY_RATES_TIMEOUT", "10s"); err != nil {
		return r, err
	}
	if r.MaxAge, err = positiveDuration(env, "CRYPTOPAY_RATES_MAX_AGE", "3m"); err != nil {
		return r, err
	}
	if r.MaxDeviation, err = percentFraction(env, "CRYPTOPAY_RATES_MAX_DEVIATION", "2%"); err != nil {
		return r, err
	}
	if r.DepegLimit, err = percentFraction(env, "CRYPTOPAY_RATES_DEPEG_LIMIT", "2%"); err != nil {
		return r, err
	}
	if v := env("CRYPTOPAY_RATES_QUORUM"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > len(r.Sources) {
			return r, fmt.Errorf("CRYPTOPAY_RATES_QUORUM: want a whole number from 1 to the number of providers (%d)", len(r.Sources))
		}
		r.Quorum = n
	}
	return r, nil
}

func positiveDuration(env func(string) string, name, def string) (time.Duration, error) {
	d, err := time.ParseDuration(or(env(name), def))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: want a positive duration such as %s", name, def)
	}
	return d, nil
}

// percentFraction reads "2%" (or "2", or "0.5%") as the exact fraction
// 2/100; from 0.01 % to 50 %.
func percentFraction(env func(string) string, name, def string) (*big.Rat, error) {
	v := strings.TrimSuffix(strings.TrimSpace(or(env(name), def)), "%")
	r, ok := new(big.Rat).SetString(v)
	if !ok || strings.ContainsAny(v, "/eE") || r.Cmp(big.NewRat(1, 100)) < 0 || r.Cmp(big.NewRat(50, 1)) > 0 {
		return nil, fmt.Errorf("%s: want a percentage from 0.01%% to 50%%, such as %s", name, def)
	}
	return r.Quo(r, big.NewRat(100, 1)), nil
}
