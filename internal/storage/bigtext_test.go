package storage

import (
	"math/big"
	"testing"
)

// TestParseBigText: the int64 fast path and math/big's parser agree on
// every stored text, well-formed or not.
func TestParseBigText(t *testing.T) {
	cases := map[string]struct {
		text string
		want string // "" when refused
	}{
		"zero":                  {"0", "0"},
		"cents":                 {"2500", "2500"},
		"leading zeros":         {"007", "7"},
		"18 digits (fast path)": {"999999999999999999", "999999999999999999"},
		"19 digits":             {"9223372036854775808", "9223372036854775808"},
		"wei beyond int64":      {"123456789012345678901234", "123456789012345678901234"},
		"negative":              {"-5", "-5"},
		"plus sign":             {"+5", "5"},
		"empty":                 {"", ""},
		"underscore":            {"1_000", ""},
		"letters":               {"12a", ""},
		"space":                 {" 1", ""},
		"decimal point":         {"1.5", ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			v, err := ParseBigText(c.text)
			if c.want == "" {
				if err == nil {
					t.Fatalf("ParseBigText(%q) = %v, want an error", c.text, v)
				}
				return
			}
			want, _ := new(big.Int).SetString(c.want, 10)
			if err != nil || v.Cmp(want) != 0 {
				t.Fatalf("ParseBigText(%q) = %v, %v; want %v", c.text, v, err, want)
			}
		})
	}
}
