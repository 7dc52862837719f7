package gateway

import (
	"slices"
	"strings"
	"unicode"

	"github.com/cryptopay/cryptopay"
)

// piiRule is the security guide's data-minimisation rule, quoted in every
// refusal so the shop's developer learns the fix from the error itself.
const piiRule = "Store the minimum: do not send personal data (email addresses, names, postal addresses, phone numbers, dates of birth). Use customer_reference with your internal id, e.g. user_123, and keep personal data in your own system. A store created with allow_pii accepts it."

// piiTerms are metadata key words that name personal data wherever they
// appear in a key ("customer_email", "billingPhone").
var piiTerms = map[string]bool{
	"email": true, "mail": true, "phone": true, "mobile": true, "tel": true, "telephone": true,
	"dob": true, "birth": true, "birthday": true, "birthdate": true, "surname": true,
	"firstname": true, "lastname": true, "fullname": true, "street": true, "zip": true,
	"zipcode": true, "postcode": true, "postal": true, "ssn": true, "passport": true,
}

// piiPairs are two-word keys that name personal data, where either word
// alone does not ("name" of a product, the bitcoin "address").
var piiPairs = map[[2]string]bool{
	{"first", "name"}: true, {"last", "name"}: true, {"full", "name"}: true, {"given", "name"}: true,
	{"family", "name"}: true, {"customer", "name"}: true, {"e", "mail"}: true,
	{"billing", "address"}: true, {"shipping", "address"}: true, {"home", "address"}: true,
	{"street", "address"}: true, {"postal", "address"}: true, {"mailing", "address"}: true,
	{"customer", "address"}: true, {"date", "birth"}: true, {"postal", "code"}: true,
}

// piiWhole are keys that are personal data on their own.
var piiWhole = map[string]bool{"name": true, "address": true, "customer": true, "buyer": true, "payer": true}

// keyWords splits a metadata key into lower-case words at '_', '-', '.',
// spaces and camelCase humps.
func keyWords(k string) []string {
	var words []string
	var cur strings.Builder
	prevLower := false
	flush := func() {
		if cur.Len() > 0 {
			words = append(words, cur.String())
			cur.Reset()
		}
	}
	for _, r := range k {
		switch {
		case r == '_' || r == '-' || r == '.' || r == ' ' || r == ':' || r == '/':
			flush()
			prevLower = false
			continue
		case unicode.IsUpper(r) && prevLower:
			flush()
		}
		cur.WriteRune(unicode.ToLower(r))
		prevLower = unicode.IsLower(r) || unicode.IsDigit(r)
	}
	flush()
	return words
}

// personalKey reports whether a metadata key names personal data.
func personalKey(k string) bool {
	w := keyWords(k)
	if len(w) == 1 && piiWhole[w[0]] {
		return true
	}
	if piiWhole[strings.Join(w, "")] {
		return true
	}
	for i, x := range w {
		if piiTerms[x] {
			return true
		}
		if i > 0 && piiPairs[[2]string{w[i-1], x}] {
			return true
		}
		// "date_of_birth"
		if i > 1 && w[i-1] == "of" && piiPairs[[2]string{w[i-2], x}] {
			return true
		}
	}
	return false
}

// looksLikeEmail reports a value of the form local@domain.tld.
func looksLikeEmail(v string) bool {
	v = strings.TrimSpace(v)
	at := strings.LastIndexByte(v, '@')
	if at <= 0 || at == len(v)-1 || strings.ContainsAny(v, " \t") {
		return false
	}
	domain := v[at+1:]
	dot := strings.LastIndexByte(domain, '.')
	return dot > 0 && dot < len(domain)-2
}

// looksLikePhone reports an international number (+ and 7 to 15 digits)
// or a written national one (10 to 15 digits in groups). Bare digit
// strings are order numbers far more often than phone numbers and pass.
func looksLikePhone(v string) bool {
	v = strings.TrimSpace(v)
	digits, groups := 0, 0
	inDigits := false
	for i, r := range v {
		switch {
		case r >= '0' && r <= '9':
			digits++
			if !inDigits {
				groups++
			}
			inDigits = true
		case r == '+' && i == 0, r == ' ', r == '-', r == '(', r == ')', r == '.':
			inDigits = false
		default:
			return false
		}
	}
	if strings.HasPrefix(v, "+") {
		return digits >= 7 && digits <= 15
	}
	return digits >= 10 && digits <= 15 && groups >= 2
}

// checkPII refuses personal data in an invoice's customer reference and
// metadata unless the store allows it. Each refusal is CodeInvalid naming
// the field, with the guide's rule as the message.
func checkPII(st *cryptopay.Store, ref string, meta map[string]string) error {
	if st.AllowPII {
		return nil
	}
	if looksLikeEmail(ref) || looksLikePhone(ref) {
		return cryptopay.Invalid("customer_reference", "customer_reference looks like an email address or phone number. %s", piiRule)
	}
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report the same field first every time
	for _, k := range keys {
		param := "metadata[" + k + "]"
		if personalKey(k) {
			return cryptopay.Invalid(param, "metadata key %q names personal data. %s", k, piiRule)
		}
		if v := meta[k]; looksLikeEmail(v) || looksLikePhone(v) {
			return cryptopay.Invalid(param, "metadata value of %q looks like an email address or phone number. %s", k, piiRule)
		}
	}
	return nil
}
