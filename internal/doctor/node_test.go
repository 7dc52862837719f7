package doctor

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// TestNodeCheck: the node item by what is configured and what the stores
// need. The node itself is a function here (its checks against recorded
// Bitcoin Core answers are in package cli); this is the verdict's logic.
func TestNodeCheck(t *testing.T) {
	ctx := context.Background()
	healthy := func(n cryptopay.Network) NodeCheck {
		return func(context.Context) (cryptopay.Network, error) { return n, nil }
	}
	sick := func(context.Context) (cryptopay.Network, error) {
		return cryptopay.NetworkBitcoin, errors.New("node is in initial block download (100 blocks of 800000 headers)")
	}
	cases := []struct {
		name   string
		live   bool // the store is a live one on mainnet (else test on regtest)
		node   NodeCheck
		want   Status
		detail string
	}{
		{"test store, no node", false, nil, Warn, "no Bitcoin node configured"},
		{"test store, node on its network", false, healthy(cryptopay.NetworkBitcoinRegtest), Pass, "reachable, synced"},
		{"live store, no node", true, nil, Fail, "no Bitcoin node configured, but live stores"},
		{"live store, node on another network", true, healthy(cryptopay.NetworkBitcoinTestnet), Fail, "another network"},
		{"live store, node syncing", true, sick, Fail, "initial block download"},
		{"live store, healthy node", true, healthy(cryptopay.NetworkBitcoin), Pass, "node on bitcoin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t, map[string]string{}, nil)
			if tc.live {
				// Beside the setup's test store on regtest, which a
				// mainnet node leaves unwatched (a warning at most).
				if _, err := s.svc.CreateStore(ctx, gateway.StoreParams{Name: "Live", Livemode: true,
					Wallets: []gateway.WalletParams{{Network: "bitcoin", AccountKey: bip84Zpub}}}); err != nil {
					t.Fatal(err)
				}
			}
			s.in.Node = tc.node
			r := checkNode(ctx, s.in)
			if r.Status != tc.want && !(tc.want == Pass && r.Status == Warn && tc.live) {
				t.Fatalf("status %s (%s), want %s", r.Status, r.Detail, tc.want)
			}
			if !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("detail %q, want it to mention %q", r.Detail, tc.detail)
			}
		})
	}
}
