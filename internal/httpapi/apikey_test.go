package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/gateway"
)

// TestKeyActionsStayWithinCaller: an API key may create, rotate and revoke
// only keys within its own scopes, allowed addresses and expiry. Each
// refusal is a 403 api_key_exceeds_caller naming what exceeds, changes
// nothing, and is audited.
func TestKeyActionsStayWithinCaller(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ct := map[string]string{"Content-Type": "application/json"}
		// A key manager that may only manage keys: e.key holds every scope.
		mgrSecret, mgr := e.newKey(gateway.KeyParams{Name: "mgr", Scopes: []string{"keys:read", "keys:write"}})
		// A key manager pinned to the test client's address.
		pinnedSecret, _ := e.newKey(gateway.KeyParams{Name: "pinned", Scopes: []string{"keys:read", "keys:write", "invoices:read"},
			AllowedIPs: []string{"127.0.0.1"}, TTL: 30 * 24 * time.Hour})
		mgrAuth, pinnedAuth := "Bearer "+mgrSecret, "Bearer "+pinnedSecret

		refusals := []struct {
			name, auth, method, path, body string
			param, mention                 string
		}{
			{"rotate a full-scope key", mgrAuth, "POST", "/v1/api_keys/" + e.key.ID + "/rotate", "", "id", "scope"},
			{"revoke a full-scope key", mgrAuth, "POST", "/v1/api_keys/" + e.key.ID + "/revoke", "", "id", "scope"},
			{"create with a scope the caller lacks", mgrAuth, "POST", "/v1/api_keys", `{"scopes":["audit:read"]}`, "scopes", "audit:read"},
			{"pinned key creates an unrestricted key", pinnedAuth, "POST", "/v1/api_keys", `{"scopes":["invoices:read"]}`, "allowed_ips", "any address"},
			{"pinned key creates a wider key", pinnedAuth, "POST", "/v1/api_keys", `{"scopes":["invoices:read"],"allowed_ips":["127.0.0.0/8"]}`, "allowed_ips", "127.0.0.0/8"},
			{"pinned key creates a longer-lived key", pinnedAuth, "POST", "/v1/api_keys", `{"scopes":["invoices:read"],"allowed_ips":["127.0.0.1"],"expires_in":31622400}`, "expires_in", "expiry"},
			{"pinned key rotates an unrestricted key", pinnedAuth, "POST", "/v1/api_keys/" + mgr.ID + "/rotate", "", "id", "allowed_ips"},
			{"pinned key revokes an unrestricted key", pinnedAuth, "POST", "/v1/api_keys/" + mgr.ID + "/revoke", "", "id", "allowed_ips"},
		}
		for _, tc := range refusals {
			t.Run(tc.name, func(t *testing.T) {
				before := e.counts()
				r := e.raw(tc.method, tc.path, tc.auth, ct, tc.body)
				if r.status != http.StatusForbidden || r.err.Code != "api_key_exceeds_caller" || r.err.Param != tc.param ||
					!strings.Contains(r.err.Message, tc.mention) {
					t.Errorf("got %d %s; want 403 api_key_exceeds_caller on %s mentioning %q", r.status, r.body, tc.param, tc.mention)
				}
				if strings.Contains(string(r.body), "cp_test_") {
					t.Errorf("a refusal carries a secret: %s", r.body)
				}
				if after := e.counts(); after != before {
					t.Errorf("a refused request wrote: %+v → %+v", before, after)
				}
			})
		}
		// The targets still work and were never rotated or revoked.
		for _, id := range []string{e.key.ID, mgr.ID} {
			if k, err := e.svc.GetKey(ctx, nil, id); err != nil || k.RevokedAt != nil || k.RotatedTo != "" {
				t.Errorf("key %s after the refusals: %+v, %v", id, k, err)
			}
		}
		entries, _, err := e.svc.ListAuditEntries(ctx, e.key, gateway.AuditQuery{Action: gateway.AuditKeyRefused, Limit: 100})
		if err != nil || len(entries) != len(refusals) {
			t.Errorf("%d refusal audit entries (%v), want %d", len(entries), err, len(refusals))
		}

		// Within itself it may: a narrower key, then rotate and revoke it,
		// and revoke itself.
		r := e.raw("POST", "/v1/api_keys", pinnedAuth, ct, `{"name":"narrow","scopes":["invoices:read"],"allowed_ips":["127.0.0.1"],"expires_in":86400}`)
		if r.status != http.StatusCreated {
			t.Fatalf("create a narrower key: %d %s", r.status, r.body)
		}
		var created struct{ ID, Secret string }
		decodeKeyJSON(t, r.body, &created)
		if r := e.raw("POST", "/v1/api_keys/"+created.ID+"/rotate", pinnedAuth, ct, `{"grace_period":0}`); r.status != http.StatusCreated {
			t.Errorf("rotate a narrower key: %d %s", r.status, r.body)
		}
		// Without expires_in the new key expires with the caller, not later.
		r = e.raw("POST", "/v1/api_keys", mgrAuth, ct, `{"scopes":["keys:read"]}`)
		var dflt struct {
			ExpiresAt time.Time `json:"expires_at"`
		}
		decodeKeyJSON(t, r.body, &dflt)
		if r.status != http.StatusCreated || dflt.ExpiresAt.After(mgr.ExpiresAt) {
			t.Errorf("default expiry: %d, expires %v, caller expires %v", r.status, dflt.ExpiresAt, mgr.ExpiresAt)
		}
		if r := e.raw("POST", "/v1/api_keys/"+mgr.ID+"/revoke", mgrAuth, ct, ""); r.status != http.StatusOK {
			t.Errorf("a key revokes itself: %d %s", r.status, r.body)
		}
	})
}

func decodeKeyJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
