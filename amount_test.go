package cryptopay

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestParseAmountRefusesLeadingZeros: "010" is not a way to write 10 and
// "00.001" not a way to write 0.001; a lone zero before the point is.
func TestParseAmountRefusesLeadingZeros(t *testing.T) {
	cases := []struct {
		name, in string
		ok       bool
	}{
		{"leading zero on a whole number", "010", false},
		{"two zeros before the point", "00.001", false},
		{"zeros before a whole number with decimals", "0010.50", false},
		{"only zeros", "00", false},
		{"one zero before the point", "0.001", true},
		{"a zero inside", "100.05", true},
		{"trailing zeros in the fraction", "10.10", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAmount("amount", tc.in, 8)
			if tc.ok != (err == nil) {
				t.Fatalf("ParseAmount(%q): %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil {
				if e, isErr := err.(*Error); !isErr || e.Param != "amount" || e.Code != CodeInvalid {
					t.Fatalf("error %v does not name the field", err)
				}
			}
		})
	}
}

// TestParseAmountValue: amounts parse to their exact base units on both
// sides of the int64 fast path (17, 18 and 19 digits of base units), and
// zero is refused on both.
func TestParseAmountValue(t *testing.T) {
	cases := []struct {
		name, in string
		decimals int
		want     string // base units; "" for refused
	}{
		{"cents", "25.00", 2, "2500"},
		{"no fraction", "25", 2, "2500"},
		{"satoshi", "0.0015", 8, "150000"},
		{"one satoshi", "0.00000001", 8, "1"},
		{"no decimals", "7", 0, "7"},
		{"17 digits", "123456789.12345678", 8, "12345678912345678"},
		{"18 digits, the last in the fast path", "9999999999.99999999", 8, "999999999999999999"},
		{"19 digits", "99999999999.99999999", 8, "9999999999999999999"},
		{"past int64", "99999999999999999999", 8, "9999999999999999999900000000"},
		{"one wei", "0.000000000000000001", 18, "1"},
		{"ether", "1.5", 18, "1500000000000000000"},
		{"18-digit whole number", "999999999999999999", 0, "999999999999999999"},
		{"zero", "0", 8, ""},
		{"zero with decimals", "0.00", 2, ""},
		{"zero past the fast path", "0.000000000000000000", 18, ""},
	}
	for _, tc := range cases {
		v, err := ParseAmount("amount", tc.in, tc.decimals)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s: ParseAmount(%q) = %s, want refused", tc.name, tc.in, v)
		case tc.want != "" && (err != nil || v.String() != tc.want):
			t.Errorf("%s: ParseAmount(%q, %d) = %v, %v; want %s", tc.name, tc.in, tc.decimals, v, err, tc.want)
		}
	}
}

// FuzzParseAmountOneSpelling: an accepted amount is written the one way
// FormatAmount writes it, up to trailing fractional zeros ("10.5" for
// "10.50000000"); so no two accepted spellings differ in anything but
// those zeros.
func FuzzParseAmountOneSpelling(f *testing.F) {
	for _, s := range []string{"010", "00.001", "0.001", "10", "10.50", "0", "0.0"} {
		f.Add(s)
	}
	trim := func(s string) string {
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		return s
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseAmount("amount", s, 8)
		if err != nil {
			return
		}
		if got := trim(FormatAmount(v, 8)); got != trim(s) {
			t.Fatalf("accepted %q, which is %q written the usual way", s, got)
		}
	})
}

// TestInvoiceAmountString: the price shows as the shop sent it; an invoice
// stored before the sent text was kept shows the normalised price.
func TestInvoiceAmountString(t *testing.T) {
	sent := &Invoice{Amount: big.NewInt(150000), AmountText: "0.0015", Currency: "BTC"}
	if got := sent.AmountString(); got != "0.0015" {
		t.Errorf("AmountString() = %q, want the sent \"0.0015\"", got)
	}
	if got := sent.AmountNormalized(); got != "0.00150000" {
		t.Errorf("AmountNormalized() = %q, want \"0.00150000\"", got)
	}
	old := &Invoice{Amount: big.NewInt(10000), Currency: "USD"}
	if got := old.AmountString(); got != "100.00" {
		t.Errorf("an invoice without the sent text: AmountString() = %q, want \"100.00\"", got)
	}
	ev := NewInvoiceEvent(EventInvoiceCreated, &Invoice{Amount: big.NewInt(1000), AmountText: "10", Currency: "USD",
		Asset: "BTC", CryptoDue: big.NewInt(1), AmountPaid: big.NewInt(0)}, nil, time.Now())
	var d InvoiceEventData
	if err := json.Unmarshal(ev.Data, &d); err != nil || d.Amount != "10" || d.AmountNormalized != "10.00" {
		t.Errorf("event data amount %q, amount_normalized %q (%v); want \"10\", \"10.00\"", d.Amount, d.AmountNormalized, err)
	}
}

func TestFormatAmount(t *testing.T) {
	cases := []struct {
		name     string
		v        string
		decimals int
		want     string
	}{
		{"satoshi", "150000", 8, "0.00150000"},
		{"one coin", "100000000", 8, "1.00000000"},
		{"cents", "2500", 2, "25.00"},
		{"zero", "0", 2, "0.00"},
		{"no decimals", "42", 0, "42"},
		{"shorter than decimals", "5", 3, "0.005"},
		{"exactly decimals", "123", 3, "0.123"},
		{"negative", "-150", 2, "-1.50"},
		{"negative small", "-5", 3, "-0.005"},
		{"largest int64", "9223372036854775807", 18, "9.223372036854775807"},
		{"smallest int64", "-9223372036854775808", 2, "-92233720368547758.08"},
		{"beyond int64 (wei)", "123456789012345678901234", 18, "123456.789012345678901234"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, _ := new(big.Int).SetString(c.v, 10)
			if got := FormatAmount(v, c.decimals); got != c.want {
				t.Fatalf("FormatAmount(%s, %d) = %q, want %q", c.v, c.decimals, got, c.want)
			}
		})
	}
	if got := FormatAmount(nil, 2); got != "0.00" {
		t.Fatalf("FormatAmount(nil, 2) = %q", got)
	}
}

// FuzzFormatAmountInt64: the int64 fast path writes what the general
// big.Int path writes, for every value and number of decimals.
func FuzzFormatAmountInt64(f *testing.F) {
	f.Add(int64(150000), uint8(8))
	f.Add(int64(-9223372036854775808), uint8(40))
	f.Fuzz(func(t *testing.T, n int64, d uint8) {
		decimals := int(d % 41)
		if got, want := formatInt64Amount(n, decimals), formatBigAmount(big.NewInt(n), decimals); got != want {
			t.Fatalf("%d with %d decimals: %q, big.Int path %q", n, decimals, got, want)
		}
	})
}
