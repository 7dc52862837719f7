package cli

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/btcrpc"
	"github.com/cryptopay/cryptopay/internal/bitcoin/btcsource"
	"github.com/cryptopay/cryptopay/internal/metrics"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Node health: what doctor and /readyz ask of the Bitcoin node beyond
// answering. A node that is on another network, still starting, still
// downloading the chain, behind the headers it knows or its peers, or not
// yet accepting transactions into its mempool would make the gateway
// credit late or miss payments; it is reported, never waited for silently.
const (
	// maxNodeLag is how many blocks a node may trail the best header it
	// or its peers know of and still count as synced: a block or two is
	// the time it takes to validate one, not a stuck node.
	maxNodeLag = 2
	// nodeCheckEvery is how often serve re-checks the node for /readyz
	// and the node metrics.
	nodeCheckEvery = 15 * time.Second
)

// newBitcoinClient builds the node client the configuration names, or nil
// when no node is configured. m may be nil.
func (a *app) newBitcoinClient(m *metrics.Metrics) (*btcrpc.Client, cryptopay.Network, error) {
	bc := a.cfg.Bitcoin
	network, err := cryptopay.ParseNetwork("CRYPTOPAY_BITCOIN_NETWORK", bc.Network)
	if err != nil {
		return nil, "", fmt.Errorf("%s", cryptopay.ErrorMessage(err))
	}
	if bc.RPCURL == "" {
		return nil, network, nil
	}
	params, err := btcsource.Params(network)
	if err != nil {
		return nil, "", err
	}
	client, err := btcrpc.New(btcrpc.Config{
		URL: bc.RPCURL, User: bc.RPCUser, Password: bc.RPCPassword, CookieFile: bc.CookieFile,
		WebsocketURL: bc.WebsocketURL, Params: params, OnError: m.RPCError,
	})
	if err != nil {
		return nil, "", fmt.Errorf("bitcoin node: %w", err)
	}
	return client, network, nil
}

// NodeStatus is one look at the node.
type nodeStatus struct {
	Info btcrpc.ChainInfo
	// Err is nil when the node is fit to watch, else what is wrong, in
	// words an operator can act on.
	Err error
}

// checkNode asks the node whether it is fit to watch: reachable, on the
// configured network, started, synced, level with its peers and
// accepting transactions, and, when pruned, still holding the blocks after
// processed (the gateway's stored height; -1 when unknown).
func checkNode(ctx context.Context, client *btcrpc.Client, mainnet bool, processed int64) nodeStatus {
	info, err := client.ChainInfo(ctx)
	switch {
	case btcrpc.IsWarmingUp(err):
		return nodeStatus{Err: fmt.Errorf("node is still starting (warming up: %w); wait for it", err)}
	case err != nil:
		return nodeStatus{Err: fmt.Errorf("node unreachable or refusing: %w", err)}
	}
	st := nodeStatus{Info: info}
	if err := client.CheckNetwork(ctx); err != nil {
		st.Err = fmt.Errorf("%w; set CRYPTOPAY_BITCOIN_NETWORK to the node's network or point CRYPTOPAY_BITCOIN_RPC_URL at the right node", err)
		return st
	}
	if info.InitialBlockDownload {
		st.Err = fmt.Errorf("node is in initial block download (%d blocks of %d headers); wait until it has synced", info.Blocks, info.Headers)
		return st
	}
	if info.Headers-info.Blocks > maxNodeLag {
		st.Err = fmt.Errorf("node is behind: %d blocks validated of %d headers known", info.Blocks, info.Headers)
		return st
	}
	if info.Pruned && processed >= 0 && info.PruneHeight > processed+1 {
		st.Err = fmt.Errorf("node has pruned blocks the gateway has not processed: it keeps blocks from %d, the gateway is at %d; run `cryptopay chain rescan --from %d` (payments in the blocks between are not seen) or use a node that keeps them", info.PruneHeight, processed, info.PruneHeight)
		return st
	}
	peers, best, err := client.PeerHeights(ctx)
	switch {
	case err != nil:
		st.Err = fmt.Errorf("getpeerinfo: %w", err)
		return st
	case peers == 0 && mainnet:
		st.Err = errors.New("node has no peers: it cannot see new blocks or payments")
		return st
	case best-info.Blocks > maxNodeLag:
		st.Err = fmt.Errorf("node is behind its peers: at height %d, a peer announces %d", info.Blocks, best)
		return st
	}
	mp, err := client.MempoolInfo(ctx)
	switch {
	case err != nil:
		st.Err = fmt.Errorf("getmempoolinfo: %w", err)
	case !mp.Loaded:
		st.Err = errors.New("node is still loading its mempool: unconfirmed payments would be missed")
	}
	return st
}

// nodeMonitor re-checks the node every nodeCheckEvery for /readyz and the
// node metrics.
type nodeMonitor struct {
	client  *btcrpc.Client
	network cryptopay.Network
	db      storage.DB
	metrics *metrics.Metrics
	last    atomic.Pointer[nodeStatus]
}

// ready is the last check's verdict (nil before the first check: the
// watcher's own readiness covers start-up).
func (n *nodeMonitor) ready() error {
	if st := n.last.Load(); st != nil {
		return st.Err
	}
	return nil
}

func (n *nodeMonitor) run(ctx context.Context) {
	t := time.NewTicker(nodeCheckEvery)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, nodeCheckEvery)
		processed := int64(-1)
		if cs, err := n.db.GetChainState(cctx, n.network); err == nil {
			processed = cs.Height
		}
		st := checkNode(cctx, n.client, n.network == cryptopay.NetworkBitcoin, processed)
		cancel()
		n.last.Store(&st)
		if st.Info.Chain != "" {
			n.metrics.NodeStatus(string(n.network), st.Info.Blocks, st.Info.Headers, processed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
