package cryptopay

import (
	"unicode"
	"unicode/utf8"
)

// PrintableText reports whether s is valid UTF-8 free of characters that
// make text show differently from what it holds: control characters (Cc,
// NUL included), format characters (Cf: bidirectional overrides and
// isolates such as U+202E, zero-width characters such as U+200B and U+FEFF,
// the soft hyphen) and line or paragraph separators (U+2028, U+2029). Ids,
// references, names and metadata a person reads in a dashboard, a log or an
// e-mail must say what they are: "inv\u202Efdp.exe" must not display as
// something else.
func PrintableText(s string) bool {
	// Printable ASCII (space to '~') is in none of those categories: most
	// ids and references are all of it, and need no table look-up.
	ascii := true
	for i := 0; i < len(s) && ascii; i++ {
		ascii = s[i] >= ' ' && s[i] <= '~'
	}
	if ascii {
		return true
	}
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return false
		}
	}
	return true
}
