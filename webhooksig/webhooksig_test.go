package webhooksig

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	testSecret = "whsec_3q2-7wAAAAC7u7u7zMzM3d3d7u7u_____AAAAAAAAAAA"
	oldSecret  = "whsec_oldoldoldoldoldoldoldoldoldoldoldoldold"
)

var (
	testNow     = time.Unix(1_700_000_000, 0)
	testPayload = []byte(`{"id":"evt_01","type":"invoice.settled","data":{"order_id":"A-1","amount":"100.00","currency":"USD"}}`)
)

// TestSignKnownAnswer pins Sign to HMAC-SHA256 with the secret string as
// key, using RFC 4231 test case 2.
func TestSignKnownAnswer(t *testing.T) {
	got := Sign([]byte("what do ya want for nothing?"), "Jefe")
	const want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

// TestSignHeaderFormat pins the wire format: t in decimal seconds, then one
// v1 per secret in order, each the legacy MAC of t + "." + body.
func TestSignHeaderFormat(t *testing.T) {
	got := SignHeader(testPayload, testNow.Add(999*time.Millisecond), oldSecret, testSecret)
	signed := append([]byte("1700000000."), testPayload...)
	want := "t=1700000000,v1=" + Sign(signed, oldSecret) + ",v1=" + Sign(signed, testSecret)
	if got != want {
		t.Fatalf("SignHeader =\n %s\nwant\n %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	valid := SignHeader(testPayload, testNow, testSecret)
	v1 := strings.TrimPrefix(valid, "t=1700000000,v1=")
	tampered := append([]byte(nil), testPayload...)
	tampered[len(tampered)/2] ^= 0x01
	at := func(d time.Duration) string { return SignHeader(testPayload, testNow.Add(d), testSecret) }

	tests := []struct {
		name    string
		payload []byte
		header  string
		secret  string
		opts    Options
		wantErr error // nil means accepted
	}{
		{name: "valid", header: valid},
		{name: "rotation: only the second v1 matches", header: SignHeader(testPayload, testNow, oldSecret, testSecret)},
		{name: "rotation: only the first v1 matches", header: SignHeader(testPayload, testNow, testSecret, oldSecret)},
		{name: "receiver still on the old secret during rotation", header: SignHeader(testPayload, testNow, oldSecret, testSecret), secret: oldSecret},
		{name: "unknown scheme v0 ignored", header: "t=1700000000,v0=not-hex-at-all,v1=" + v1},
		{name: "future scheme after v1 ignored", header: valid + ",v2=whatever"},
		{name: "spaces after commas (joined header lines)", header: "t=1700000000, v1=" + v1},
		{name: "uppercase hex", header: "t=1700000000,v1=" + strings.ToUpper(v1)},
		{name: "elements in any order", header: "v1=" + v1 + ",t=1700000000"},
		{name: "empty payload signed and verified", payload: []byte{}, header: SignHeader(nil, testNow, testSecret)},

		{name: "tampered body (one byte changed)", payload: tampered, header: valid, wantErr: ErrNoMatch},
		{name: "body with a byte appended", payload: append(append([]byte(nil), testPayload...), ' '), header: valid, wantErr: ErrNoMatch},
		{name: "wrong secret", header: valid, secret: oldSecret, wantErr: ErrNoMatch},
		{name: "secret without its whsec_ prefix", header: valid, secret: strings.TrimPrefix(testSecret, "whsec_"), wantErr: ErrNoMatch},
		{name: "timestamp changed after signing", header: "t=1700000001,v1=" + v1, wantErr: ErrNoMatch},
		{name: "legacy body-only signature in v1", header: "t=1700000000,v1=" + Sign(testPayload, testSecret), wantErr: ErrNoMatch},
		{name: "leading zero in t is a different signed string", header: "t=01700000000,v1=" + v1, wantErr: ErrNoMatch},
		{name: "forged and stale reports the forgery", header: "t=1,v1=" + v1, wantErr: ErrNoMatch},

		{name: "missing header", header: "", wantErr: ErrNoHeader},
		{name: "empty secret", header: valid, secret: "-", wantErr: ErrEmptySecret},

		{name: "malformed: no t", header: "v1=" + v1, wantErr: ErrBadFormat},
		{name: "malformed: non-numeric t", header: "t=abc,v1=" + v1, wantErr: ErrBadFormat},
		{name: "malformed: empty t", header: "t=,v1=" + v1, wantErr: ErrBadFormat},
		{name: "malformed: negative t", header: "t=-1700000000,v1=" + v1, wantErr: ErrBadFormat},
		{name: "malformed: plus sign in t", header: "t=+1700000000,v1=" + v1, wantErr: ErrBadFormat},
		{name: "malformed: fractional t", header: "t=1700000000.5,v1=" + v1, wantErr: ErrBadFormat},
		{name: "malformed: t overflows int64", header: "t=9999999999999999999,v1=" + v1, wantErr: ErrBadFormat},
		{name: "malformed: t with 20 digits", header: "t=00000000001700000000,v1=" + v1, wantErr: ErrBadFormat},
		{name: "malformed: no v1", header: "t=1700000000", wantErr: ErrBadFormat},
		{name: "malformed: only unknown schemes", header: "t=1700000000,v0=" + v1, wantErr: ErrBadFormat},
		{name: "malformed: bad hex", header: "t=1700000000,v1=" + "zz" + v1[2:], wantErr: ErrBadFormat},
		{name: "malformed: short hex", header: "t=1700000000,v1=" + v1[:62], wantErr: ErrBadFormat},
		{name: "malformed: long hex", header: "t=1700000000,v1=" + v1 + "00", wantErr: ErrBadFormat},
		{name: "malformed: one good and one bad v1", header: valid + ",v1=xyz", wantErr: ErrBadFormat},
		{name: "malformed: empty v1", header: "t=1700000000,v1=", wantErr: ErrBadFormat},
		{name: "malformed: element without =", header: "t=1700000000,v1", wantErr: ErrBadFormat},
		{name: "malformed: trailing comma", header: valid + ",", wantErr: ErrBadFormat},
		{name: "malformed: only a comma", header: ",", wantErr: ErrBadFormat},
		{name: "malformed: only spaces", header: "   ", wantErr: ErrBadFormat},
		{name: "malformed: uppercase key", header: "T=1700000000,V1=" + v1, wantErr: ErrBadFormat},
		{name: "malformed: legacy value in the new header", header: Sign(testPayload, testSecret), wantErr: ErrBadFormat},
		{name: "malformed: duplicate t (same value)", header: "t=1700000000,t=1700000000,v1=" + v1, wantErr: ErrBadFormat},
		{name: "malformed: duplicate t (second fresh)", header: "t=1,v1=" + v1 + ",t=1700000000", wantErr: ErrBadFormat},

		{name: "exactly at tolerance in the past", header: at(-DefaultTolerance)},
		{name: "exactly at tolerance in the future", header: at(DefaultTolerance)},
		{name: "too old by one second", header: at(-DefaultTolerance - time.Second), wantErr: ErrTooOld},
		{name: "too old: a day", header: at(-24 * time.Hour), wantErr: ErrTooOld},
		{name: "too old: t=0", header: SignHeader(testPayload, time.Unix(0, 0), testSecret), wantErr: ErrTooOld},
		{name: "too far in the future by one second", header: at(DefaultTolerance + time.Second), wantErr: ErrTooNew},
		{name: "too far in the future: max int64 seconds", header: SignHeader(testPayload, time.Unix(1<<63-1, 0), testSecret), wantErr: ErrTooNew},
		{name: "custom tolerance rejects 11s", header: at(-11 * time.Second), opts: Options{Tolerance: 10 * time.Second}, wantErr: ErrTooOld},
		{name: "custom tolerance accepts 10s", header: at(-10 * time.Second), opts: Options{Tolerance: 10 * time.Second}},
		{name: "negative tolerance means default, not off", header: at(-time.Hour), opts: Options{Tolerance: -1}, wantErr: ErrTooOld},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			payload := tc.payload
			if payload == nil {
				payload = testPayload
			}
			secret := tc.secret
			switch secret {
			case "":
				secret = testSecret
			case "-":
				secret = ""
			}
			opts := tc.opts
			opts.Now = func() time.Time { return testNow }
			err := VerifyWithOptions(payload, tc.header, secret, opts)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("VerifyWithOptions(%q) = %v, want %v", tc.header, err, tc.wantErr)
			}
			if err != nil && secret != "" && strings.Contains(err.Error(), secret) {
				t.Fatalf("error text leaks the secret: %v", err)
			}
		})
	}
}

// TestVerifyUsesWallClock checks the defaults: Verify uses time.Now and a
// five-minute window, so a fresh signature passes and a ten-minute-old one
// does not.
func TestVerifyUsesWallClock(t *testing.T) {
	if err := Verify(testPayload, SignHeader(testPayload, time.Now(), testSecret), testSecret); err != nil {
		t.Fatalf("fresh signature rejected: %v", err)
	}
	old := SignHeader(testPayload, time.Now().Add(-10*time.Minute), testSecret)
	if err := Verify(testPayload, old, testSecret); !errors.Is(err, ErrTooOld) {
		t.Fatalf("ten-minute-old signature: got %v, want ErrTooOld", err)
	}
}

func TestVerifyLegacy(t *testing.T) {
	sig := Sign(testPayload, testSecret)
	tampered := append([]byte(nil), testPayload...)
	tampered[0] = '['
	tests := []struct {
		name    string
		payload []byte
		sig     string
		secret  string
		wantErr error
	}{
		{name: "valid", payload: testPayload, sig: sig, secret: testSecret},
		{name: "uppercase hex", payload: testPayload, sig: strings.ToUpper(sig), secret: testSecret},
		{name: "tampered body (one byte changed)", payload: tampered, sig: sig, secret: testSecret, wantErr: ErrNoMatch},
		{name: "wrong secret", payload: testPayload, sig: sig, secret: oldSecret, wantErr: ErrNoMatch},
		{name: "missing", payload: testPayload, sig: "", secret: testSecret, wantErr: ErrNoHeader},
		{name: "empty secret", payload: testPayload, sig: sig, secret: "", wantErr: ErrEmptySecret},
		{name: "bad hex", payload: testPayload, sig: "g" + sig[1:], secret: testSecret, wantErr: ErrBadFormat},
		{name: "truncated", payload: testPayload, sig: sig[:63], secret: testSecret, wantErr: ErrBadFormat},
		{name: "timestamped header given instead", payload: testPayload, sig: SignHeader(testPayload, testNow, testSecret), secret: testSecret, wantErr: ErrBadFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyLegacy(tc.payload, tc.sig, tc.secret)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("VerifyLegacy = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestNewSecret(t *testing.T) {
	seen := make(map[string]bool)
	for i := 0; i < 100; i++ {
		s, err := NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		rest, ok := strings.CutPrefix(s, "whsec_")
		if !ok || len(rest) != 43 {
			t.Fatalf("NewSecret = %q: want whsec_ and 43 base64url characters", s)
		}
		if strings.ContainsAny(rest, "+/=") {
			t.Fatalf("NewSecret = %q: not unpadded base64url", s)
		}
		if seen[s] {
			t.Fatalf("NewSecret repeated %q", s)
		}
		seen[s] = true
		// A generated secret must work end to end.
		if err := VerifyWithOptions(testPayload, SignHeader(testPayload, testNow, s), s, Options{Now: func() time.Time { return testNow }}); err != nil {
			t.Fatalf("secret %d does not round-trip: %v", i, err)
		}
	}
}

// TestErrorsWrapOneSentinel checks the error contract: each failure is
// recognisable with errors.Is and matches no other sentinel.
func TestErrorsWrapOneSentinel(t *testing.T) {
	sentinels := []error{ErrNoHeader, ErrBadFormat, ErrTooOld, ErrTooNew, ErrNoMatch, ErrEmptySecret, ErrBodyTooLarge}
	inputs := []string{"", "t=x", "t=1,v1=" + strings.Repeat("0", 64), SignHeader(testPayload, time.Unix(0, 0), testSecret), SignHeader(testPayload, testNow.Add(time.Hour), testSecret)}
	for _, h := range inputs {
		err := VerifyWithOptions(testPayload, h, testSecret, Options{Now: func() time.Time { return testNow }})
		n := 0
		for _, s := range sentinels {
			if errors.Is(err, s) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("header %q: error %v matches %d sentinels, want 1", h, err, n)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	payload := []byte(strings.Repeat("x", 2048))
	h := SignHeader(payload, testNow, oldSecret, testSecret)
	opts := Options{Now: func() time.Time { return testNow }}
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if err := VerifyWithOptions(payload, h, testSecret, opts); err != nil {
			b.Fatal(err)
		}
	}
}
