package config

import (
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestLiveRates(t *testing.T) {
	load := func(vars map[string]string) (LiveRates, error) {
		return loadLiveRates(func(k string) string { return vars[k] })
	}
	d, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(d.Sources, ",") != "kraken,coinbase,bitstamp,coingecko" || d.Interval != 45*time.Second || d.Timeout != 10*time.Second ||
		d.MaxAge != 3*time.Minute || d.MaxDeviation.Cmp(big.NewRat(1, 50)) != 0 || d.DepegLimit.Cmp(big.NewRat(1, 50)) != 0 || d.Quorum != 0 || len(d.URLs) != 0 {
		t.Errorf("defaults: %+v", d)
	}
	got, err := load(map[string]string{"CRYPTOPAY_RATES_SOURCES": "Coinbase, kraken", "CRYPTOPAY_RATES_KRAKEN_URL": "http://127.0.0.1:9/",
		"CRYPTOPAY_RATES_MAX_DEVIATION": "0.5%", "CRYPTOPAY_RATES_QUORUM": "2", "CRYPTOPAY_RATES_REFRESH": "30s"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Sources, ",") != "coinbase,kraken" || got.URLs["kraken"] != "http://127.0.0.1:9/" || got.MaxDeviation.Cmp(big.NewRat(1, 200)) != 0 ||
		got.Quorum != 2 || got.Interval != 30*time.Second {
		t.Errorf("set: %+v", got)
	}
	if off, err := load(map[string]string{"CRYPTOPAY_RATES_SOURCES": "off"}); err != nil || len(off.Sources) != 0 {
		t.Errorf("off: %+v, %v", off, err)
	}
	for _, tc := range []struct {
		name string
		vars map[string]string
	}{
		{"unknown provider", map[string]string{"CRYPTOPAY_RATES_SOURCES": "kraken,binance"}},
		{"provider twice", map[string]string{"CRYPTOPAY_RATES_SOURCES": "kraken,kraken"}},
		{"quorum above the providers", map[string]string{"CRYPTOPAY_RATES_SOURCES": "kraken,coinbase", "CRYPTOPAY_RATES_QUORUM": "3"}},
		{"quorum zero", map[string]string{"CRYPTOPAY_RATES_QUORUM": "0"}},
		{"deviation zero", map[string]string{"CRYPTOPAY_RATES_MAX_DEVIATION": "0%"}},
		{"deviation as a float", map[string]string{"CRYPTOPAY_RATES_MAX_DEVIATION": "2e0"}},
		{"depeg above 50%", map[string]string{"CRYPTOPAY_RATES_DEPEG_LIMIT": "60%"}},
		{"negative max age", map[string]string{"CRYPTOPAY_RATES_MAX_AGE": "-1m"}},
		{"url without scheme", map[string]string{"CRYPTOPAY_RATES_COINGECKO_URL": "api.coingecko.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(tc.vars)
			if err == nil {
				t.Fatal("accepted")
			}
			for k := range tc.vars {
				if strings.HasPrefix(err.Error(), k) {
					return
				}
			}
			t.Errorf("error %q names none of %v", err, tc.vars)
		})
	}
}

func FuzzPercentFraction(f *testing.F) {
	for _, s := range []string{"2%", "0.5", "50%", "0%", "1e1", "1/3", "-2%", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := percentFraction(func(string) string { return s }, "X", "2%")
		if err != nil {
			return
		}
		if r.Cmp(big.NewRat(1, 10000)) < 0 || r.Cmp(big.NewRat(1, 2)) > 0 {
			t.Fatalf("percentFraction(%q) = %v, outside 0.01%%..50%%", s, r)
		}
	})
}
