package doctor

import (
	"context"
	"fmt"

	"github.com/cryptopay/cryptopay"
)

// NodeCheck looks at the configured chain node: it returns the network the
// gateway watches with it and nil when the node is fit to watch (reachable,
// on that network, started, synced, level with its peers, mempool loaded),
// else what is wrong. An empty network means no node is configured.
type NodeCheck func(ctx context.Context) (watched cryptopay.Network, err error)

// checkNode: a live store is only safe to take money for when a healthy
// node on its network watches it. With no node configured a live store's
// invoices would never be seen paid (and would expire while customers pay),
// so that fails rather than warns.
func checkNode(ctx context.Context, in *Input) Result {
	if in.DB == nil {
		return skip("no database")
	}
	stores, err := in.DB.ListStores(ctx)
	if err != nil {
		return fail("cannot list stores: "+err.Error(), "check CRYPTOPAY_DATABASE_URL")
	}
	var watched cryptopay.Network
	var nodeErr error
	if in.Node != nil {
		watched, nodeErr = in.Node(ctx)
	}
	var unwatchedLive, unwatchedTest []string
	for _, st := range stores {
		for _, w := range st.Wallets {
			if w.Network == watched {
				continue
			}
			item := fmt.Sprintf("%s (%s)", st.ID, w.Network)
			if st.Livemode {
				unwatchedLive = append(unwatchedLive, item)
			} else {
				unwatchedTest = append(unwatchedTest, item)
			}
		}
	}
	switch {
	case len(unwatchedLive) > 0 && watched == "":
		return fail("no Bitcoin node configured, but live stores take payments: "+list(unwatchedLive),
			"run Bitcoin Core and set CRYPTOPAY_BITCOIN_RPC_URL (with CRYPTOPAY_BITCOIN_RPC_COOKIE_FILE or user and password) and CRYPTOPAY_BITCOIN_NETWORK=bitcoin")
	case len(unwatchedLive) > 0:
		return fail(fmt.Sprintf("the node watches %s, but live stores take payments on another network: %s", watched, list(unwatchedLive)),
			"point CRYPTOPAY_BITCOIN_RPC_URL at a node of the stores' network and set CRYPTOPAY_BITCOIN_NETWORK to match")
	case watched != "" && nodeErr != nil:
		return fail(nodeErr.Error(), "fix the node (bitcoin-cli getblockchaininfo, getpeerinfo, getmempoolinfo), then run doctor again")
	case watched == "" && len(unwatchedTest) > 0:
		return warn("no Bitcoin node configured: test invoices are created but never seen paid ("+list(unwatchedTest)+")",
			"set CRYPTOPAY_BITCOIN_RPC_URL to a test node, or ignore this on a gateway without live stores")
	case watched == "":
		return skip("no node configured and no store yet")
	case len(unwatchedTest) > 0:
		return warn(fmt.Sprintf("node on %s is healthy; test stores on other networks are not watched: %s", watched, list(unwatchedTest)), "")
	}
	return pass(fmt.Sprintf("node on %s reachable, synced and accepting transactions", watched))
}
