package cli

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/v2"

	"github.com/cryptopay/cryptopay/internal/bitcoin/btcrpc"
	"github.com/cryptopay/cryptopay/internal/bitcoin/btcrpc/coretest"
)

// TestNodeHealthAgainstBitcoinCore: what doctor and /readyz conclude from
// Bitcoin Core's recorded answers (26, 28, 29): a synced mainnet node
// passes; one still starting, downloading the chain, behind its peers,
// without peers, loading its mempool or on another network does not, and
// says why.
func TestNodeHealthAgainstBitcoinCore(t *testing.T) {
	cases := []struct {
		name      string
		use       map[string]string // method → recorded case
		processed int64             // the gateway's stored height
		want      string            // "" healthy, else in the error
	}{
		{"synced", nil, 869990, ""},
		{"pruned, keeps what the gateway needs", map[string]string{"getblockchaininfo": "getblockchaininfo mainnet pruned"}, 869990, ""},
		{"pruned past the gateway's position", map[string]string{"getblockchaininfo": "getblockchaininfo mainnet pruned"}, 850000, "chain rescan --from 860000"},
		{"warming up", map[string]string{"getblockchaininfo": "error warming up"}, -1, "still starting"},
		{"initial block download", map[string]string{"getblockchaininfo": "getblockchaininfo mainnet initial block download"}, -1, "initial block download"},
		{"behind its peers", map[string]string{"getpeerinfo": "getpeerinfo mainnet ahead"}, -1, "behind its peers"},
		{"no peers", map[string]string{"getpeerinfo": "getpeerinfo none"}, -1, "no peers"},
		{"mempool loading", map[string]string{"getmempoolinfo": "getmempoolinfo loading"}, -1, "loading its mempool"},
		{"another network", map[string]string{"getblockchaininfo": "getblockchaininfo"}, -1, "different network"},
	}
	for _, v := range coretest.Versions {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("core %d %s", v, tc.name), func(t *testing.T) {
				srv := coretest.NewServer(t, v)
				srv.Use("getblockchaininfo", "getblockchaininfo mainnet")
				srv.Use("getpeerinfo", "getpeerinfo mainnet")
				for m, c := range tc.use {
					srv.Use(m, c)
				}
				client, err := btcrpc.New(btcrpc.Config{URL: srv.URL, User: "u", Password: "p", Params: &chaincfg.MainNetParams})
				if err != nil {
					t.Fatal(err)
				}
				st := checkNode(t.Context(), client, true, tc.processed)
				switch {
				case tc.want == "" && st.Err != nil:
					t.Fatalf("healthy node reported: %v", st.Err)
				case tc.want != "" && (st.Err == nil || !strings.Contains(st.Err.Error(), tc.want)):
					t.Fatalf("got %v, want an error mentioning %q", st.Err, tc.want)
				}
			})
		}
	}
}

// TestDoctorOnAMainnetGateway: a mainnet-configured gateway with a live
// store, pointed at Bitcoin Core (recorded answers), passes doctor's node
// item; the same node still syncing fails it, and so does no node at all.
func TestDoctorOnAMainnetGateway(t *testing.T) {
	srv := coretest.NewServer(t, 29)
	srv.Use("getblockchaininfo", "getblockchaininfo mainnet")
	srv.Use("getpeerinfo", "getpeerinfo mainnet")
	e, _ := helpEnv(t)
	e.vars["CRYPTOPAY_ENCRYPTION_KEY"] = strings.Repeat("5a", 32)
	e.vars["CRYPTOPAY_BITCOIN_NETWORK"] = "bitcoin"
	e.must("migrate")
	e.must("stores", "create", "--live", "--name", "Live shop", "--account-key", bip84Zpub)
	nodeLine := regexp.MustCompile(`(?m)^(\w+)\s+Bitcoin node watches the stores, synced: (.*)$`)
	cases := []struct {
		name, rpcURL, use, status, detail string
	}{
		{"synced Bitcoin Core", srv.URL, "", "PASS", "node on bitcoin reachable, synced"},
		{"Bitcoin Core in initial block download", srv.URL, "getblockchaininfo mainnet initial block download", "FAIL", "initial block download"},
		{"no node configured", "", "", "FAIL", "no Bitcoin node configured, but live stores"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.use != "" {
				srv.Use("getblockchaininfo", tc.use)
				defer srv.Use("getblockchaininfo", "getblockchaininfo mainnet")
			}
			e.vars["CRYPTOPAY_BITCOIN_RPC_URL"] = tc.rpcURL
			e.vars["CRYPTOPAY_BITCOIN_RPC_USER"], e.vars["CRYPTOPAY_BITCOIN_RPC_PASSWORD"] = "cryptopay", "pw"
			_, out, _ := e.run("doctor")
			m := nodeLine.FindStringSubmatch(out)
			if m == nil || m[1] != tc.status || !strings.Contains(m[2], tc.detail) {
				t.Fatalf("node line %q, want %s mentioning %q; doctor said:\n%s", m, tc.status, tc.detail, out)
			}
		})
	}
}
