package httpapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// TestListBlockedAddresses: a test key sees the blocks on test networks,
// never a live one, pages through them, and needs audit:read; every
// response matches the OpenAPI document.
func TestListBlockedAddresses(t *testing.T) {
	router, err := legacy.NewRouter(loadOpenAPI(t))
	if err != nil {
		t.Fatal(err)
	}
	forEachEngine(t, func(t *testing.T, e *env) {
		vt := &validatingTransport{t: t, base: e.httpc.Transport, router: router, seen: map[string][]int{}}
		e.httpc = &http.Client{Transport: vt}
		now := time.Now().UTC()
		for i, b := range []struct {
			network cryptopay.Network
			address string
		}{{cryptopay.NetworkBitcoinRegtest, "bcrt1qone"}, {cryptopay.NetworkBitcoin, "bc1qlive"}, {cryptopay.NetworkBitcoinRegtest, "bcrt1qtwo"}} {
			at := now.Add(time.Duration(i) * time.Millisecond)
			if err := e.db.InTx(t.Context(), func(tx storage.Tx) error {
				return tx.BlockAddress(t.Context(), &storage.BlockedAddress{ID: cryptopay.NewID("blk", at), Network: b.network,
					Address: b.address, Reason: "6 failed payments within 24h0m0s", Failures: 6, BlockedAt: at, BlockedBy: "system"})
			}); err != nil {
				t.Fatal(err)
			}
		}
		status, _, page := call(t, e, "GET", "/v1/blocked_addresses?limit=1", e.secret, "")
		data, _ := page["data"].([]any)
		if status != 200 || len(data) != 1 || page["has_more"] != true || data[0].(map[string]any)["address"] != "bcrt1qtwo" {
			t.Fatalf("first page: %d %v", status, page)
		}
		next := data[0].(map[string]any)["id"].(string)
		status, _, page = call(t, e, "GET", "/v1/blocked_addresses?starting_after="+next, e.secret, "")
		data, _ = page["data"].([]any)
		if status != 200 || len(data) != 1 || page["has_more"] != false || data[0].(map[string]any)["address"] != "bcrt1qone" {
			t.Fatalf("second page (the live block must not show to a test key): %d %v", status, page)
		}
		cases := []struct {
			name   string
			path   string
			secret string
			want   int
		}{
			{"bad limit", "/v1/blocked_addresses?limit=0", e.secret, 400},
			{"bad cursor", "/v1/blocked_addresses?starting_after=inv_x", e.secret, 400},
			{"unknown parameter", "/v1/blocked_addresses?network=bitcoin", e.secret, 400},
			{"no key", "/v1/blocked_addresses", "", 401},
		}
		noAudit, _ := e.newKey(gateway.KeyParams{Name: "invoices only", Scopes: []string{"invoices:read"}})
		cases = append(cases, struct {
			name   string
			path   string
			secret string
			want   int
		}{"without audit:read", "/v1/blocked_addresses", noAudit, 403})
		for _, tc := range cases {
			if status, _, body := call(t, e, "GET", tc.path, tc.secret, ""); status != tc.want {
				t.Errorf("%s: %d %v, want %d", tc.name, status, body, tc.want)
			}
		}
		if len(vt.seen["listBlockedAddresses"]) == 0 {
			t.Error("no response was validated against the document")
		}
	})
}
