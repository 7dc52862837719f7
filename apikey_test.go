package cryptopay

import (
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
