package webhooksig

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary headers and bodies to the verifiers. Properties:
// they never panic; every failure wraps exactly one sentinel; an arbitrary
// header is accepted only if it carries the true MAC; and what Sign and
// SignHeader produce always verifies for the same payload, secret and time.
func FuzzVerify(f *testing.F) {
	f.Add("t=1700000000,v1="+strings.Repeat("ab", 32), []byte(`{"a":1}`), "whsec_x", int64(1_700_000_000))
	f.Add(SignHeader(testPayload, testNow, testSecret), testPayload, testSecret, testNow.Unix())
	f.Add("t=1,t=2,v0=,v1=", []byte{}, "", int64(0))
	f.Add(" t=9223372036854775807 ,\tv1=ZZ", []byte{0xff, 0xfe}, "whsec_\x00", int64(-1))
	f.Add(",,,=,==,t==,v1==", []byte("x"), "k", int64(1<<62))

	sentinels := []error{ErrNoHeader, ErrBadFormat, ErrTooOld, ErrTooNew, ErrNoMatch, ErrEmptySecret}
	f.Fuzz(func(t *testing.T, header string, payload []byte, secret string, unix int64) {
		// Any t from 1970 to the bound where time.Unix stays exact.
		if unix < 0 {
			unix = -(unix + 1)
		}
		unix %= maxPlausibleUnix
		at := time.Unix(unix, 0)
		opts := Options{Now: func() time.Time { return at }}

		err := VerifyWithOptions(payload, header, secret, opts)
		if err != nil {
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %v wraps %d sentinels, want 1", err, n)
			}
		} else if h, perr := parseHeader(header); perr != nil || !containsMAC(h, timestampedMAC(payload, h.ts, secret)) {
			t.Fatalf("accepted header %q without the right MAC", header)
		}
		_ = VerifyLegacy(payload, header, secret)

		secret = "whsec_" + secret // verifiers refuse the empty secret
		if err := VerifyWithOptions(payload, SignHeader(payload, at, secret), secret, opts); err != nil {
			t.Fatalf("own timestamped signature rejected: %v", err)
		}
		if err := VerifyWithOptions(payload, SignHeader(payload, at, "whsec_other", secret), secret, opts); err != nil {
			t.Fatalf("own rotation signature rejected: %v", err)
		}
		if err := VerifyLegacy(payload, Sign(payload, secret), secret); err != nil {
			t.Fatalf("own legacy signature rejected: %v", err)
		}
	})
}

func containsMAC(h parsedHeader, want []byte) bool {
	for _, s := range h.v1 {
		if string(s) == string(want) {
			return true
		}
	}
	return false
}
