package monitor

import (
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
)

var (
	usd, _ = cryptopay.LookupCurrency("USD")
	jpy, _ = cryptopay.LookupCurrency("JPY")
	btc, _ = cryptopay.LookupCurrency("BTC")
)

func TestShouldBlock(t *testing.T) {
	cases := []struct {
		name     string
		rules    Rules
		failures int
		want     bool
	}{
		{"none", Rules{}, 0, false},
		{"at the guide's limit of five is not yet blocked", Rules{}, 5, false},
		{"sixth failure blocks", Rules{}, 6, true},
		{"custom limit of one: first failure is allowed", Rules{FailureLimit: 1}, 1, false},
		{"custom limit of one: second failure blocks", Rules{FailureLimit: 1}, 2, true},
		{"disabled never blocks", Rules{FailureLimit: -1}, 1000, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rules.ShouldBlock(tc.failures); got != tc.want {
				t.Fatalf("ShouldBlock(%d) = %v, want %v", tc.failures, got, tc.want)
			}
		})
	}
}

func TestIsHighValue(t *testing.T) {
	cases := []struct {
		name  string
		rules Rules
		value *big.Int
		cur   cryptopay.Currency
		want  bool
	}{
		{"default threshold reached exactly", Rules{}, big.NewInt(10000_00), usd, true},
		{"one cent below", Rules{}, big.NewInt(9999_99), usd, false},
		{"well above", Rules{}, big.NewInt(250000_00), usd, true},
		{"unknown value never alerts", Rules{}, nil, usd, false},
		{"zero-decimal currency", Rules{HighValue: "10000"}, big.NewInt(10000), jpy, true},
		{"zero-decimal currency below", Rules{HighValue: "10000.50"}, big.NewInt(10000), jpy, false},
		{"fractional threshold in cents", Rules{HighValue: "0.015"}, big.NewInt(2), usd, true},
		{"fractional threshold not reached", Rules{HighValue: "0.015"}, big.NewInt(1), usd, false},
		{"disabled", Rules{HighValue: "off"}, big.NewInt(1 << 62), usd, false},
		{"malformed threshold never alerts", Rules{HighValue: "1e4"}, big.NewInt(1 << 62), usd, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rules.IsHighValue(tc.value, tc.cur); got != tc.want {
				t.Fatalf("IsHighValue(%v %s) = %v, want %v", tc.value, tc.cur.Code, got, tc.want)
			}
		})
	}
}

func TestParseHighValue(t *testing.T) {
	cases := []struct {
		in string
		ok bool
	}{
		{"10000.00", true}, {"0.5", true}, {"off", true}, {"OFF", true}, {"250000", true},
		{"", false}, {"0", false}, {"-5", false}, {"1e4", false}, {"10,000", false}, {"0.123456789", false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			err := ParseHighValue("CRYPTOPAY_ALERT_HIGH_VALUE", tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseHighValue(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !strings.Contains(cryptopay.ErrorMessage(err), "CRYPTOPAY_ALERT_HIGH_VALUE") {
				t.Fatalf("error does not name the variable: %v", err)
			}
		})
	}
}

func TestBursts(t *testing.T) {
	cases := []struct {
		name  string
		fn    func(Rules, int) bool
		rules Rules
		n     int
		want  bool
	}{
		{"ten invoices from one address is normal", Rules.AddressBurst, Rules{}, 10, false},
		{"eleventh invoice alerts", Rules.AddressBurst, Rules{}, 11, true},
		{"twelfth does not alert again", Rules.AddressBurst, Rules{}, 12, false},
		{"address rule disabled", Rules.AddressBurst, Rules{AddressInvoices: -1}, 11, false},
		{"five payments to one invoice is normal", Rules.PaymentBurst, Rules{}, 5, false},
		{"sixth payment alerts", Rules.PaymentBurst, Rules{}, 6, true},
		{"seventh does not alert again", Rules.PaymentBurst, Rules{}, 7, false},
		{"custom payment limit", Rules.PaymentBurst, Rules{InvoicePayments: 1}, 2, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.fn(tc.rules, tc.n); got != tc.want {
				t.Fatalf("got %v at %d, want %v", got, tc.n, tc.want)
			}
		})
	}
}

func TestValue(t *testing.T) {
	usdInvoice := &cryptopay.Invoice{Currency: "USD", Amount: big.NewInt(13000_00), Asset: "BTC", CryptoDue: big.NewInt(20_000_000)}
	btcInvoice := &cryptopay.Invoice{Currency: "BTC", Amount: big.NewInt(20_000_000), Asset: "BTC", CryptoDue: big.NewInt(20_000_000)}
	rate := big.NewRat(65000, 1)
	cases := []struct {
		name   string
		inv    *cryptopay.Invoice
		units  int64
		cur    cryptopay.Currency
		rate   *big.Rat
		want   int64
		wantOK bool
	}{
		{"full payment at the invoice's own price", usdInvoice, 20_000_000, usd, nil, 13000_00, true},
		{"half payment pro rata", usdInvoice, 10_000_000, usd, nil, 6500_00, true},
		{"rounds down", usdInvoice, 1, usd, nil, 0, true},
		{"priced in BTC with a rate", btcInvoice, 20_000_000, usd, rate, 13000_00, true},
		{"priced in BTC without a rate is unknown", btcInvoice, 20_000_000, usd, nil, 0, false},
		{"policy currency must be fiat", btcInvoice, 20_000_000, btc, rate, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Value(tc.inv, big.NewInt(tc.units), tc.cur, tc.rate)
			if ok != tc.wantOK || ok && got.Int64() != tc.want {
				t.Fatalf("Value = %v, %v; want %d, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestFindingsNameWhatAnOperatorNeeds(t *testing.T) {
	inv := &cryptopay.Invoice{ID: "inv_1", OrderID: "order-9", Currency: "USD", Amount: big.NewInt(13000_00),
		Asset: "BTC", CryptoDue: big.NewInt(20_000_000), AmountConfirmed: big.NewInt(20_000_000)}
	p := &cryptopay.Payment{TxID: "ab", Vout: 1, Amount: big.NewInt(20_000_000), FromAddress: "bcrt1qsender"}
	cases := []struct {
		name string
		f    Finding
		want []string
	}{
		{"high-value payment", HighValuePayment(inv, p, big.NewInt(13000_00), usd), []string{"inv_1", "order-9", "0.20000000 BTC", "13000.00 USD", "bcrt1qsender"}},
		{"high-value settlement", HighValueSettlement(inv, big.NewInt(13000_00), usd, "bcrt1qsender"), []string{"inv_1", "order-9", "13000.00 USD", "bcrt1qsender"}},
		{"unknown sender", HighValueSettlement(inv, big.NewInt(13000_00), usd, ""), []string{"an unknown address"}},
		{"blocked", Blocked(cryptopay.NetworkBitcoinRegtest, "bcrt1qsender", 6, 24*time.Hour, inv), []string{"bcrt1qsender", "6 failed", "unblock"}},
		{"held", Held(inv, p), []string{"inv_1", "bcrt1qsender", "not credited"}},
		{"address burst", AddressBurstFinding(cryptopay.NetworkBitcoinRegtest, "bcrt1qsender", 11, time.Hour, inv), []string{"11 distinct"}},
		{"payment burst", PaymentBurstFinding(inv, 6), []string{"6 separate"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, w := range tc.want {
				if !strings.Contains(tc.f.Text, w) {
					t.Errorf("%q does not mention %q", tc.f.Text, w)
				}
			}
			if tc.f.Title == "" {
				t.Error("no title")
			}
		})
	}
}

// FuzzParseHighValue: the threshold parser never panics, and whatever it
// accepts (other than off) compares consistently: the threshold itself in
// the finest currency is high-value.
func FuzzParseHighValue(f *testing.F) {
	for _, s := range []string{"10000.00", "off", "0.00000001", "1e4", "", "99999999999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ParseHighValue("v", s) != nil || strings.EqualFold(s, "off") {
			return
		}
		v, err := cryptopay.ParseAmount("v", s, highValueDecimals)
		if err != nil {
			t.Fatalf("accepted %q but ParseAmount refuses it: %v", s, err)
		}
		eightDecimals := cryptopay.Currency{Code: "X", Decimals: 8}
		if !(Rules{HighValue: s}).IsHighValue(v, eightDecimals) {
			t.Fatalf("the threshold %q itself is not high-value", s)
		}
		if (Rules{HighValue: s}).IsHighValue(new(big.Int).Sub(v, big.NewInt(1)), eightDecimals) {
			t.Fatalf("just below %q is high-value", s)
		}
	})
}
