package config

import (
	"strings"
	"testing"
)

// TestEVMNetworks: the one-network CRYPTOPAY_EVM_* shorthand works alone
// and unchanged; CRYPTOPAY_EVM_NETWORKS adds networks that each read their
// own CRYPTOPAY_EVM_<NETWORK>_* variables; mistakes are named.
func TestEVMNetworks(t *testing.T) {
	base := map[string]string{
		"CRYPTOPAY_EVM_RPC_URL": "http://eth.example", "CRYPTOPAY_EVM_FACTORY": "0x00000000000000000000000000000000000000fa",
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	type net struct{ network, rpc, factory, tiers string }
	for _, tc := range []struct {
		name string
		vars map[string]string
		want []net
		err  string
	}{
		{"none", map[string]string{}, nil, ""},
		{"shorthand alone", base, []net{{"ethereum", "http://eth.example", "0x00000000000000000000000000000000000000fa", ""}}, ""},
		{"shorthand and two more", with("CRYPTOPAY_EVM_NETWORKS", "base, base-sepolia",
			"CRYPTOPAY_EVM_BASE_RPC_URL", "http://base.example", "CRYPTOPAY_EVM_BASE_FACTORY", "0x00000000000000000000000000000000000000fb",
			"CRYPTOPAY_EVM_BASE_CONFIRMATIONS", "100.00:20,60",
			"CRYPTOPAY_EVM_BASE_SEPOLIA_RPC_URL", "http://bs.example"), []net{
			{"ethereum", "http://eth.example", "0x00000000000000000000000000000000000000fa", ""},
			{"base", "http://base.example", "0x00000000000000000000000000000000000000fb", "100.00:20,60"},
			{"base-sepolia", "http://bs.example", "", ""},
		}, ""},
		{"listed networks without the shorthand", map[string]string{"CRYPTOPAY_EVM_NETWORKS": "polygon", "CRYPTOPAY_EVM_POLYGON_RPC_URL": "http://pol.example"},
			[]net{{"polygon", "http://pol.example", "", ""}}, ""},
		{"unknown network", with("CRYPTOPAY_EVM_NETWORKS", "solana"), nil, `"solana" is not an EVM network`},
		{"listed twice", with("CRYPTOPAY_EVM_NETWORKS", "base,base", "CRYPTOPAY_EVM_BASE_RPC_URL", "http://b"), nil, "base is configured twice"},
		{"also the shorthand", with("CRYPTOPAY_EVM_NETWORKS", "ethereum", "CRYPTOPAY_EVM_ETHEREUM_RPC_URL", "http://e2"), nil, "ethereum is configured twice"},
		{"listed without a node", with("CRYPTOPAY_EVM_NETWORKS", "arbitrum"), nil, "CRYPTOPAY_EVM_ARBITRUM_RPC_URL"},
		{"bad setting named by its network", with("CRYPTOPAY_EVM_NETWORKS", "base", "CRYPTOPAY_EVM_BASE_RPC_URL", "http://b", "CRYPTOPAY_EVM_BASE_CHAIN_ID", "x"), nil, "CRYPTOPAY_EVM_BASE_CHAIN_ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(func(k string) string { return tc.vars[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := c.EVMNetworks()
			if len(got) != len(tc.want) {
				t.Fatalf("%d networks %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Network != w.network || g.RPCURL != w.rpc || g.Factory != w.factory || g.Confirmations != w.tiers {
					t.Errorf("network %d = %s %s %s %q, want %+v", i, g.Network, g.RPCURL, g.Factory, g.Confirmations, w)
				}
			}
		})
	}
}
