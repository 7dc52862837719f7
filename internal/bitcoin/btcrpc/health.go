package btcrpc

import (
	"context"
	"errors"
)

// Bitcoin Core's error codes the gateway tells apart (rpc/protocol.h).
const (
	// CodeInWarmup: the node is starting (loading the block index,
	// verifying blocks); every call fails with it until it is done.
	CodeInWarmup = -28
	// CodeMethodNotFound is also what Core answers for wallet calls when
	// it runs with -disablewallet.
	CodeMethodNotFound = codeMethodNotFound
	// CodeMisc (-1) is, among others, getblock's "Block not available
	// (pruned data)" on a pruned node.
	CodeMisc = -1
)

// IsWarmingUp reports a node still starting (RPC error -28).
func IsWarmingUp(err error) bool {
	var e *RPCError
	return errors.As(err, &e) && e.Code == CodeInWarmup
}

// MempoolInfo is what getmempoolinfo reports that the gateway uses.
type MempoolInfo struct {
	// Loaded is false while Bitcoin Core is still loading its mempool
	// from disk at start-up; btcd does not report it (taken as true).
	Loaded bool
	Size   int64 // transactions
	// FullRBF is Bitcoin Core's mempoolfullrbf (always true from 28.0;
	// btcd: false). Either way the gateway never trusts BIP125 signals.
	FullRBF bool
}

// MempoolInfo calls getmempoolinfo.
func (c *Client) MempoolInfo(ctx context.Context) (MempoolInfo, error) {
	const method = "getmempoolinfo"
	var r struct {
		Loaded  *bool `json:"loaded"`
		Size    int64 `json:"size"`
		FullRBF bool  `json:"fullrbf"`
	}
	if err := c.call(ctx, method, nil, &r); err != nil {
		return MempoolInfo{}, err
	}
	if r.Size < 0 {
		return MempoolInfo{}, &ResponseError{Method: method, Reason: "negative size"}
	}
	return MempoolInfo{Loaded: r.Loaded == nil || *r.Loaded, Size: r.Size, FullRBF: r.FullRBF}, nil
}

// PeerHeights calls getpeerinfo and returns how many peers the node has
// and the highest header height any of them has announced (Bitcoin Core's
// synced_headers; btcd's currentheight), or -1 when none reports one.
func (c *Client) PeerHeights(ctx context.Context) (peers int, best int64, err error) {
	const method = "getpeerinfo"
	var r []struct {
		SyncedHeaders *int64 `json:"synced_headers"`
		CurrentHeight *int64 `json:"currentheight"`
	}
	if err := c.call(ctx, method, nil, &r); err != nil {
		return 0, 0, err
	}
	best = -1
	for _, p := range r {
		for _, h := range []*int64{p.SyncedHeaders, p.CurrentHeight} {
			if h != nil && *h > best {
				best = *h
			}
		}
	}
	return len(r), best, nil
}
