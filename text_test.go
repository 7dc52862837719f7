package cryptopay

import (
	"fmt"
	"testing"
	"unicode"
)

func TestPrintableText(t *testing.T) {
	cases := []struct {
		name, in string
		ok       bool
	}{
		{"ascii", "order-1001", true},
		{"accents and CJK", "café 注文", true},
		{"emoji", "gift 🎁", true},
		{"empty", "", true},
		{"NUL", "a\x00b", false},
		{"tab", "a\tb", false},
		{"DEL", "a\x7fb", false},
		{"C1 control", "a\u0085b", false},
		{"right-to-left override", "inv\u202Efdp.exe", false},
		{"left-to-right isolate", "a\u2066b", false},
		{"zero-width space", "a\u200Bb", false},
		{"zero-width joiner", "a\u200Db", false},
		{"byte order mark", "\uFEFFa", false},
		{"soft hyphen", "a\u00ADb", false},
		{"line separator", "a\u2028b", false},
		{"invalid UTF-8", "a\xffb", false},
	}
	// Every ASCII character, alone and inside text: the fast path for
	// printable ASCII must agree with the categories.
	for c := range 128 {
		r := rune(c)
		want := !unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
		cases = append(cases, struct {
			name, in string
			ok       bool
		}{fmt.Sprintf("ASCII %#x", c), "a" + string(r) + "b", want})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := PrintableText(tc.in); got != tc.ok {
				t.Fatalf("PrintableText(%q) = %v, want %v", tc.in, got, tc.ok)
			}
		})
	}
}
