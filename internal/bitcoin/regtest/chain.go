package regtest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/wire/v2"
)

// Mine generates n blocks paying the node's mining address and returns
// their hashes in chain order. It returns an error if n < 1 or the node
// refuses (an RPC error) or does not answer.
func (n *Node) Mine(ctx context.Context, count int) ([]string, error) {
	if count < 1 {
		return nil, fmt.Errorf("regtest: mine %d blocks: count must be positive", count)
	}
	var hashes []string
	if err := n.Call(ctx, "generate", []any{count}, &hashes); err != nil {
		return nil, err
	}
	if len(hashes) != count {
		return nil, fmt.Errorf("regtest: generate %d returned %d hashes", count, len(hashes))
	}
	return hashes, nil
}

// BlockCount is the height of the node's best chain.
func (n *Node) BlockCount(ctx context.Context) (int64, error) {
	var h int64
	err := n.Call(ctx, "getblockcount", nil, &h)
	return h, err
}

// BestBlockHash is the hash of the node's best chain tip.
func (n *Node) BestBlockHash(ctx context.Context) (string, error) {
	var h string
	err := n.Call(ctx, "getbestblockhash", nil, &h)
	return h, err
}

// BlockHash is the hash of the best-chain block at height; an RPC error
// (code -1 on btcd, -8 on Bitcoin Core) if the height is beyond the tip.
func (n *Node) BlockHash(ctx context.Context, height int64) (string, error) {
	var h string
	err := n.Call(ctx, "getblockhash", []any{height}, &h)
	return h, err
}

// Block fetches and decodes a block by hash (getblock verbosity 0), so the
// caller sees exactly the bytes a raw-block parser would.
func (n *Node) Block(ctx context.Context, hash string) (*wire.MsgBlock, error) {
	var hexBlock string
	if err := n.Call(ctx, "getblock", []any{hash, 0}, &hexBlock); err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(hexBlock)
	if err != nil {
		return nil, fmt.Errorf("regtest: getblock %s: %w", hash, err)
	}
	var b wire.MsgBlock
	if err := b.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("regtest: getblock %s: %w", hash, err)
	}
	return &b, nil
}

// RawMempool lists the txids in the node's mempool.
func (n *Node) RawMempool(ctx context.Context) ([]string, error) {
	var ids []string
	err := n.Call(ctx, "getrawmempool", nil, &ids)
	return ids, err
}

// InMempool reports whether txid is in the node's mempool.
func (n *Node) InMempool(ctx context.Context, txid string) (bool, error) {
	ids, err := n.RawMempool(ctx)
	if err != nil {
		return false, err
	}
	for _, id := range ids {
		if id == txid {
			return true, nil
		}
	}
	return false, nil
}

// SendRawTransaction submits a serialized transaction and returns its txid.
// A rejection (policy, conflict, insufficient fee) is an *RPCError.
func (n *Node) SendRawTransaction(ctx context.Context, raw []byte) (string, error) {
	var txid string
	err := n.Call(ctx, "sendrawtransaction", []any{hex.EncodeToString(raw)}, &txid)
	return txid, err
}

// InvalidateBlock marks a block and its descendants invalid, so the node
// reorganises to the best remaining chain.
func (n *Node) InvalidateBlock(ctx context.Context, hash string) error {
	return n.Call(ctx, "invalidateblock", []any{hash}, nil)
}

// ReconsiderBlock undoes InvalidateBlock for a block and its descendants.
func (n *Node) ReconsiderBlock(ctx context.Context, hash string) error {
	return n.Call(ctx, "reconsiderblock", []any{hash}, nil)
}

// peerInfo is the part of getpeerinfo this package needs.
type peerInfo struct {
	ID        int32  `json:"id"`
	Addr      string `json:"addr"`
	AddrLocal string `json:"addrlocal"`
}

func (n *Node) peers(ctx context.Context) ([]peerInfo, error) {
	var ps []peerInfo
	err := n.Call(ctx, "getpeerinfo", nil, &ps)
	return ps, err
}

// links returns the ids, on n, of peers that are connections to other in
// either direction: the two ends of one TCP connection see each other's
// address as their local one.
func (n *Node) links(ctx context.Context, other *Node) ([]int32, error) {
	mine, err := n.peers(ctx)
	if err != nil {
		return nil, err
	}
	theirs, err := other.peers(ctx)
	if err != nil {
		return nil, err
	}
	var ids []int32
	for _, p := range mine {
		for _, q := range theirs {
			if p.Addr == q.AddrLocal && p.AddrLocal == q.Addr {
				ids = append(ids, p.ID)
				break
			}
		}
	}
	return ids, nil
}

// Connect opens a (non-persistent) P2P connection from n to other and
// waits until both nodes list it as an established peer. Blocks then relay
// both ways; the node with the shorter chain syncs from the longer one. It
// returns an error if the connection is not up before ctx ends (or 90s
// when ctx has no deadline).
func (n *Node) Connect(ctx context.Context, other *Node) error {
	if err := n.Call(ctx, "node", []any{"connect", other.P2PAddr(), "temp"}, nil); err != nil {
		return err
	}
	return poll(ctx, "connect "+n.p2pAddr+" to "+other.p2pAddr, func(ctx context.Context) (bool, error) {
		ids, err := n.links(ctx, other)
		return len(ids) > 0, err
	})
}

// Disconnect drops every P2P connection between n and other, in either
// direction, and waits until neither lists the other. Nodes on loopback
// never learn each other's address as dialable, so they stay apart until
// Connect is called again.
func (n *Node) Disconnect(ctx context.Context, other *Node) error {
	return poll(ctx, "disconnect "+n.p2pAddr+" from "+other.p2pAddr, func(ctx context.Context) (bool, error) {
		ids, err := n.links(ctx, other)
		if err != nil || len(ids) == 0 {
			return err == nil, err
		}
		for _, id := range ids {
			err := n.Call(ctx, "node", []any{"disconnect", fmt.Sprint(id)}, nil)
			var rpcErr *RPCError
			// The peer may already be gone between listing and
			// disconnecting; the next poll sees the truth.
			if err != nil && !errors.As(err, &rpcErr) {
				return false, err
			}
		}
		return false, nil
	})
}

// WaitSameTip waits until all nodes report the same best block hash and
// returns it. It returns an error naming each node's tip if they still
// differ when ctx ends (or after 90s when ctx has no deadline).
func WaitSameTip(ctx context.Context, nodes ...*Node) (string, error) {
	if len(nodes) == 0 {
		return "", errors.New("regtest: WaitSameTip needs at least one node")
	}
	var tips []string
	err := poll(ctx, "nodes to share a tip", func(ctx context.Context) (bool, error) {
		tips = tips[:0]
		for _, n := range nodes {
			h, err := n.BestBlockHash(ctx)
			if err != nil {
				return false, err
			}
			tips = append(tips, h)
		}
		for _, h := range tips[1:] {
			if h != tips[0] {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return "", fmt.Errorf("%w (tips %v)", err, tips)
	}
	return tips[0], nil
}

// WaitMempool waits until txid is in (want true) or absent from (want
// false) the node's mempool.
func (n *Node) WaitMempool(ctx context.Context, txid string, want bool) error {
	return poll(ctx, fmt.Sprintf("%s in mempool = %v", txid, want), func(ctx context.Context) (bool, error) {
		in, err := n.InMempool(ctx, txid)
		return in == want, err
	})
}

// poll calls check until it reports done, returns an error, or the wait
// times out.
func poll(ctx context.Context, what string, check func(context.Context) (bool, error)) error {
	ctx, cancel := withWaitTimeout(ctx)
	defer cancel()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		done, err := check(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("regtest: waiting for %s: %w", what, ctx.Err())
			}
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("regtest: waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}
