package rates

import (
	"context"
	"math/big"
	"testing"

	"github.com/cryptopay/cryptopay"
)

func TestParseStatic(t *testing.T) {
	got, err := ParseStatic("BTC_USD=65000.00, BTC_EUR=60000.123456789012\nBTC_JPY=9800000")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"BTC_USD": "65000/1", "BTC_EUR": "15000030864197253/250000000000", "BTC_JPY": "9800000/1"}
	for pair, w := range want {
		if got[pair] == nil || got[pair].String() != w {
			t.Errorf("%s = %v, want %s", pair, got[pair], w)
		}
	}
	r, err := got.Rate(context.Background(), "BTC", "USD")
	if err != nil || r.Cmp(big.NewRat(65000, 1)) != 0 {
		t.Errorf("Rate(BTC, USD) = %v, %v", r, err)
	}
	r.SetInt64(1) // the caller's copy: the table must not change
	if again, _ := got.Rate(context.Background(), "BTC", "USD"); again.Cmp(big.NewRat(65000, 1)) != 0 {
		t.Error("Rate returned the table's own value")
	}
	if _, err := got.Rate(context.Background(), "BTC", "GBP"); cryptopay.ErrorCode(err) != cryptopay.CodeRatesUnavailable {
		t.Errorf("missing rate: %v, want rates_unavailable", err)
	}
	if empty, err := ParseStatic(""); err != nil || len(empty) != 0 {
		t.Errorf("empty table: %v, %v", empty, err)
	}
}

func TestParseStaticRefuses(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"no equals", "BTC_USD"},
		{"no pair", "BTCUSD=1"},
		{"fiat base", "USD_BTC=1"},
		{"crypto quote", "BTC_BTC=1"},
		{"unknown currency", "BTC_XYZ=1"},
		{"negative", "BTC_USD=-1"},
		{"zero", "BTC_USD=0"},
		{"float notation", "BTC_USD=6.5e4"},
		{"too precise", "BTC_USD=1.0000000000001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseStatic(tc.in); err == nil {
				t.Fatalf("ParseStatic(%q) accepted", tc.in)
			}
		})
	}
}

func FuzzParseStatic(f *testing.F) {
	for _, s := range []string{"BTC_USD=65000.00", "BTC_EUR=1,BTC_USD=2", "x", "BTC_USD=1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		table, err := ParseStatic(s)
		if err != nil {
			return
		}
		for pair, r := range table {
			if r.Sign() <= 0 {
				t.Fatalf("%s: non-positive rate %v accepted from %q", pair, r, s)
			}
		}
	})
}
