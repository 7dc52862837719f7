package cryptopay

import (
	"math/big"
	"strconv"
	"strings"
)

// Amounts are exact: integers in base units (cents, satoshi, wei) held in
// *big.Int, and decimal strings on the wire. No float ever holds an amount.

// maxAmountDigits bounds the integer part of a decimal amount so a hostile
// request cannot make the parser allocate without limit.
const maxAmountDigits = 30

// ParseAmount parses a positive decimal string such as "100.00" or
// "0.0015" into base units of a currency with the given number of decimals.
// It accepts only ASCII digits with at most one '.', no sign, no exponent,
// no surrounding space, no leading zero ("010" and "00.5" are refused, a
// single "0" before the point as in "0.5" is not), at most decimals
// fractional digits, and a value greater than zero: one spelling per
// number, so a price cannot read as two amounts to two parsers. The error is
// a CodeInvalid *Error naming param.
func ParseAmount(param, s string, decimals int) (*big.Int, error) {
	if s == "" {
		return nil, Invalid(param, "%s is required.", param)
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if hasDot && frac == "" || whole == "" {
		return nil, Invalid(param, "%s must be a decimal string such as \"100.00\".", param)
	}
	if len(whole) > maxAmountDigits {
		return nil, Invalid(param, "%s is too large.", param)
	}
	if !allDigits(whole) || !allDigits(frac) {
		return nil, Invalid(param, "%s must be a decimal string of digits with an optional '.', such as \"100.00\".", param)
	}
	if len(whole) > 1 && whole[0] == '0' {
		return nil, Invalid(param, "%s must not start with a leading zero (write \"10\" rather than \"010\", \"0.5\" rather than \"00.5\").", param)
	}
	if len(frac) > decimals {
		return nil, Invalid(param, "%s has %d decimal places; this currency allows at most %d.", param, len(frac), decimals)
	}
	if len(whole)+decimals <= 18 {
		// Below 10^18 the value fits an int64: accumulate it there, as
		// nearly every price does, rather than build and parse a string.
		var n int64
		for _, part := range [2]string{whole, frac} {
			for i := 0; i < len(part); i++ {
				n = n*10 + int64(part[i]-'0')
			}
		}
		for range decimals - len(frac) {
			n *= 10
		}
		if n <= 0 {
			return nil, Invalid(param, "%s must be greater than zero.", param)
		}
		return big.NewInt(n), nil
	}
	digits := whole + frac + strings.Repeat("0", decimals-len(frac))
	v, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return nil, Invalid(param, "%s is not a number.", param)
	}
	if v.Sign() <= 0 {
		return nil, Invalid(param, "%s must be greater than zero.", param)
	}
	return v, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatAmount renders base units as a decimal string with exactly decimals
// fractional digits: FormatAmount(150000, 8) == "0.00150000".
func FormatAmount(v *big.Int, decimals int) string {
	if v != nil && v.IsInt64() && decimals >= 0 && decimals <= 40 {
		return formatInt64Amount(v.Int64(), decimals)
	}
	return formatBigAmount(v, decimals)
}

// formatInt64Amount is FormatAmount for a value that fits an int64 (every
// fiat price and most crypto amounts), written into one stack buffer so
// the result is the only allocation; an invoice list formats four amounts
// per invoice.
func formatInt64Amount(n int64, decimals int) string {
	var digits [20]byte
	d := strconv.AppendUint(digits[:0], absUint64(n), 10)
	var buf [64]byte
	out := buf[:0]
	if n < 0 {
		out = append(out, '-')
	}
	if decimals > 0 {
		if len(d) <= decimals {
			out = append(out, '0', '.')
			for i := len(d); i < decimals; i++ {
				out = append(out, '0')
			}
			out = append(out, d...)
		} else {
			out = append(out, d[:len(d)-decimals]...)
			out = append(out, '.')
			out = append(out, d[len(d)-decimals:]...)
		}
	} else {
		out = append(out, d...)
	}
	return string(out)
}

func absUint64(n int64) uint64 {
	if n < 0 {
		return uint64(-(n + 1)) + 1 // also right for math.MinInt64
	}
	return uint64(n)
}

func formatBigAmount(v *big.Int, decimals int) string {
	if v == nil {
		v = new(big.Int)
	}
	neg := v.Sign() < 0
	s := new(big.Int).Abs(v).String()
	if decimals > 0 {
		if len(s) <= decimals {
			s = strings.Repeat("0", decimals-len(s)+1) + s
		}
		s = s[:len(s)-decimals] + "." + s[len(s)-decimals:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Sum returns the sum of vs as a new *big.Int.
func Sum(vs ...*big.Int) *big.Int {
	t := new(big.Int)
	for _, v := range vs {
		if v != nil {
			t.Add(t, v)
		}
	}
	return t
}
