package gateway

import (
	"errors"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
)

func TestCheckPII(t *testing.T) {
	tests := []struct {
		name      string
		ref       string
		meta      map[string]string
		allowPII  bool
		wantParam string // "" when accepted
	}{
		{"internal reference", "user_123", map[string]string{"sku": "A-1", "cart": "42"}, false, ""},
		{"no data", "", nil, false, ""},
		{"order number of digits", "", map[string]string{"order_number": "12345678901234"}, false, ""},
		{"iso date", "", map[string]string{"delivery": "2026-01-15"}, false, ""},
		{"product name", "", map[string]string{"product_name": "Blue mug"}, false, ""},
		{"refund bitcoin address key", "", map[string]string{"refund_address": "bcrt1qxyz"}, false, ""},
		{"ip address key", "", map[string]string{"ip_address": "192.0.2.1"}, false, ""},
		{"email key", "", map[string]string{"email": "x"}, false, "metadata[email]"},
		{"e-mail key", "", map[string]string{"e-mail": "x"}, false, "metadata[e-mail]"},
		{"customer email camel case", "", map[string]string{"customerEmail": "x"}, false, "metadata[customerEmail]"},
		{"name", "", map[string]string{"name": "x"}, false, "metadata[name]"},
		{"first name", "", map[string]string{"first_name": "x"}, false, "metadata[first_name]"},
		{"lastName", "", map[string]string{"lastName": "x"}, false, "metadata[lastName]"},
		{"full name", "", map[string]string{"Full Name": "x"}, false, "metadata[Full Name]"},
		{"address", "", map[string]string{"address": "x"}, false, "metadata[address]"},
		{"shipping address", "", map[string]string{"shipping_address": "x"}, false, "metadata[shipping_address]"},
		{"street", "", map[string]string{"street": "x"}, false, "metadata[street]"},
		{"zip", "", map[string]string{"zip": "x"}, false, "metadata[zip]"},
		{"postal code", "", map[string]string{"postal_code": "x"}, false, "metadata[postal_code]"},
		{"phone", "", map[string]string{"phone": "x"}, false, "metadata[phone]"},
		{"mobile", "", map[string]string{"mobile": "x"}, false, "metadata[mobile]"},
		{"tel", "", map[string]string{"tel": "x"}, false, "metadata[tel]"},
		{"dob", "", map[string]string{"dob": "x"}, false, "metadata[dob]"},
		{"date of birth", "", map[string]string{"date_of_birth": "x"}, false, "metadata[date_of_birth]"},
		{"birthday", "", map[string]string{"birthday": "x"}, false, "metadata[birthday]"},
		{"email value under a harmless key", "", map[string]string{"note": "alice@example.com"}, false, "metadata[note]"},
		{"international phone value", "", map[string]string{"contact": "+44 20 7946 0958"}, false, "metadata[contact]"},
		{"national phone value", "", map[string]string{"contact": "(555) 123-4567"}, false, "metadata[contact]"},
		{"email as customer reference", "alice@example.com", nil, false, "customer_reference"},
		{"phone as customer reference", "+1 555 123 4567", nil, false, "customer_reference"},
		{"first offending key reported", "", map[string]string{"phone": "x", "email": "x"}, false, "metadata[email]"},
		{"store allows PII", "alice@example.com", map[string]string{"email": "alice@example.com"}, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkPII(&cryptopay.Store{AllowPII: tc.allowPII}, tc.ref, tc.meta)
			if tc.wantParam == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ce *cryptopay.Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a client error on %s", err, tc.wantParam)
			}
			if ce.Code != cryptopay.CodeInvalid || ce.Param != tc.wantParam {
				t.Errorf("got %s on %q, want invalid_request on %q", ce.Code, ce.Param, tc.wantParam)
			}
			if !strings.Contains(ce.Message, "customer_reference with your internal id, e.g. user_123") {
				t.Errorf("message %q does not quote the guide's rule", ce.Message)
			}
		})
	}
}

// FuzzCheckPII checks the classifier never panics, always accepts for a
// store that allows PII, and refuses only with the one client error.
func FuzzCheckPII(f *testing.F) {
	for _, s := range []string{"email", "customerEmail", "+44 20 7946 0958", "a@b.co", "user_123", "date_of_birth", "ÄÖ__--", ""} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		meta := map[string]string{key: value}
		if err := checkPII(&cryptopay.Store{AllowPII: true}, value, meta); err != nil {
			t.Fatalf("allow_pii store refused: %v", err)
		}
		err := checkPII(&cryptopay.Store{}, value, meta)
		if err == nil {
			return
		}
		var ce *cryptopay.Error
		if !errors.As(err, &ce) || ce.Code != cryptopay.CodeInvalid {
			t.Fatalf("refusal %v is not invalid_request", err)
		}
	})
}
