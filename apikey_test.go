package cryptopay

import (
	"hash/crc32"
	"math/big"
	"testing"
	"time"
)

func TestAPIKeyExceeds(t *testing.T) {
	exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	key := func(scopes []Scope, ips []string, expires time.Time) *APIKey {
		return &APIKey{Scopes: scopes, AllowedIPs: ips, ExpiresAt: expires}
	}
	keysOnly := []Scope{ScopeKeysRead, ScopeKeysWrite}
	tests := []struct {
		name          string
		caller, t     *APIKey
		field, detail string // "" when t is within caller
	}{
		{"itself", key(keysOnly, []string{"10.0.0.0/8"}, exp), key(keysOnly, []string{"10.0.0.0/8"}, exp), "", ""},
		{"fewer scopes", key(AllScopes, nil, exp), key([]Scope{ScopeInvoicesRead}, nil, exp), "", ""},
		{"a scope the caller lacks", key(keysOnly, nil, exp), key(AllScopes, nil, exp), "scopes", "scope invoices:read"},
		{"audit scope", key(keysOnly, nil, exp), key([]Scope{ScopeKeysRead, ScopeAuditRead}, nil, exp), "scopes", "scope audit:read"},
		{"caller unrestricted, target restricted", key(keysOnly, nil, exp), key(keysOnly, []string{"192.0.2.7/32"}, exp), "", ""},
		{"target unrestricted, caller restricted", key(keysOnly, []string{"192.0.2.7/32"}, exp), key(keysOnly, nil, exp), "allowed_ips", "use from any address"},
		{"narrower network", key(keysOnly, []string{"10.0.0.0/8"}, exp), key(keysOnly, []string{"10.1.2.0/24", "10.9.9.9/32"}, exp), "", ""},
		{"inside the second network", key(keysOnly, []string{"10.0.0.0/8", "2001:db8::/32"}, exp), key(keysOnly, []string{"2001:db8:1::/48"}, exp), "", ""},
		{"wider network", key(keysOnly, []string{"10.1.0.0/16"}, exp), key(keysOnly, []string{"10.0.0.0/8"}, exp), "allowed_ips", "use from 10.0.0.0/8"},
		{"disjoint network", key(keysOnly, []string{"10.0.0.0/8"}, exp), key(keysOnly, []string{"10.0.0.0/9", "192.168.0.0/16"}, exp), "allowed_ips", "use from 192.168.0.0/16"},
		{"other address family", key(keysOnly, []string{"0.0.0.0/0"}, exp), key(keysOnly, []string{"::/0"}, exp), "allowed_ips", "use from ::/0"},
		{"unparsable target network", key(keysOnly, []string{"10.0.0.0/8"}, exp), key(keysOnly, []string{"10.0.0.0/33"}, exp), "allowed_ips", "use from 10.0.0.0/33"},
		{"earlier expiry", key(keysOnly, nil, exp), key(keysOnly, nil, exp.Add(-time.Hour)), "", ""},
		{"later expiry", key(keysOnly, nil, exp), key(keysOnly, nil, exp.Add(time.Second)), "expires_at", "expiry at 2027-01-01T00:00:01Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.caller.Exceeds(tc.t)
			switch {
			case tc.field == "" && got != nil:
				t.Errorf("Exceeds = %+v, want nil", *got)
			case tc.field != "" && (got == nil || got.Field != tc.field || got.Detail != tc.detail):
				t.Errorf("Exceeds = %+v, want {%s %s}", got, tc.field, tc.detail)
			}
		})
	}
}

// TestKeyChecksumDigits holds the word-sized checksum to the base62
// conversion by big.Int that keys were issued with, so every key issued
// before still verifies and a key's checksum reads the same everywhere.
func TestKeyChecksumDigits(t *testing.T) {
	bigChecksum := func(s string) string {
		n := new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(s))))
		out := make([]byte, keyChecksumLen)
		r, b62 := new(big.Int), big.NewInt(62)
		for i := keyChecksumLen - 1; i >= 0; i-- {
			n.DivMod(n, b62, r)
			out[i] = base62[r.Int64()]
		}
		return string(out)
	}
	cases := map[string]string{
		"empty":    "",
		"test key": "cp_test_0123456789ABCDEFGHIJKLMNOPQRSTUV",
		"live key": "cp_live_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
		"binary":   "\xff\xfe\x00\x01", // bytes a mangled key could hold
	}
	for i := range 200 {
		s := NewAPIKeySecret(i%2 == 0)
		cases["issued "+s] = s[:len(s)-keyChecksumLen]
	}
	for name, head := range cases {
		if got, want := keyChecksum(head), bigChecksum(head); got != want {
			t.Errorf("%s: checksum %q, want %q", name, got, want)
		}
	}
	s := NewAPIKeySecret(true)
	if live, ok := ParseAPIKeySecret(s); !ok || !live {
		t.Errorf("a fresh live key does not parse: %v %v", live, ok)
	}
	bad := s[:len(s)-1] + string(base62[(indexBase62(s[len(s)-1])+1)%62])
	if _, ok := ParseAPIKeySecret(bad); ok {
		t.Errorf("a key with a wrong checksum digit parses: %s", bad)
	}
}

func indexBase62(c byte) int {
	for i := range len(base62) {
		if base62[i] == c {
			return i
		}
	}
	return -1
}
