// Package evmsource is the EVM chain source of the watcher: a thin adapter
// from any execution client's JSON-RPC (geth, Nethermind, Erigon, Reth, a
// provider URL) to watcher.Source. It reads blocks by number with their
// transactions for ether sent to watched addresses, and eth_getLogs for the
// Transfer logs of the registered tokens, matched against the watched set
// locally; the tracker and the watcher make every decision.
//
// Payments are outpoints (transaction hash, index): index 0 is the ether a
// transaction sends, 1+i the Transfer log at position i among the
// transaction's own logs. The position is within the transaction, not the
// block, so the same transaction mined again in another block keeps its
// outpoints and is never credited twice. A transaction "spends" its
// sender's nonce, so a rival with the same nonce mined instead is a double
// spend to the tracker. Reorgs are found by the tracker's parent-hash walk,
// never from the logs' removed flags.
//
// There is no mempool: clients differ in what they expose of their pools
// and a token transfer exists only as the log of a mined transaction, so
// payments are first seen in a block (NoMempool).
package evmsource

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/cryptopay/cryptopay/internal/evm/evmnet"
	"github.com/cryptopay/cryptopay/internal/watcher"
)

// Source implements watcher.Source over a JSON-RPC client.
type Source struct {
	rpc       *rpc.Client
	chain     evmnet.Chain
	finalized bool
	contracts []common.Address
	assets    map[common.Address]string // token contract → asset code
}

var (
	_ watcher.Source    = (*Source)(nil)
	_ watcher.NoMempool = (*Source)(nil)
)

// ErrNoMempool: the source has no mempool (Tx).
var ErrNoMempool = errors.New("evmsource: no mempool on EVM chains")

// New returns a source for c over client. With finalized, the best block
// is the chain's "finalized" block: payments are seen later, but only once
// the chain's own finality holds them.
func New(client *rpc.Client, c evmnet.Chain, finalized bool) *Source {
	s := &Source{rpc: client, chain: c, finalized: finalized, assets: map[common.Address]string{}}
	for _, t := range c.Tokens {
		s.contracts = append(s.contracts, t.Contract)
		s.assets[t.Contract] = t.Asset
	}
	return s
}

// Network returns the watched network.
func (s *Source) Network() cryptopay.Network { return s.chain.Network }

// NoMempool tells the watcher to skip the mempool pass.
func (s *Source) NoMempool() bool { return true }

type header struct {
	Number hexutil.Uint64 `json:"number"`
	Hash   common.Hash    `json:"hash"`
}

func (s *Source) header(ctx context.Context, tag string) (header, error) {
	var h *header
	if err := s.rpc.CallContext(ctx, &h, "eth_getBlockByNumber", tag, false); err != nil {
		return header{}, err
	}
	if h == nil {
		return header{}, fmt.Errorf("evmsource: no block %s", tag)
	}
	return *h, nil
}

// Tip returns the best block: "latest", or "finalized" when so configured.
func (s *Source) Tip(ctx context.Context) (chain.BlockRef, error) {
	tag := "latest"
	if s.finalized {
		tag = "finalized"
	}
	h, err := s.header(ctx, tag)
	if err != nil {
		return chain.BlockRef{}, err
	}
	return chain.BlockRef{Height: int64(h.Number), Hash: hashString(h.Hash)}, nil
}

// BlockHash returns the best chain's hash at height.
func (s *Source) BlockHash(ctx context.Context, height int64) (string, error) {
	if height < 0 {
		return "", fmt.Errorf("evmsource: negative height %d", height)
	}
	h, err := s.header(ctx, hexutil.EncodeUint64(uint64(height)))
	if err != nil {
		return "", err
	}
	return hashString(h.Hash), nil
}

// Block fetches the block ref with its transactions and the registered
// tokens' Transfer logs, and keeps what f wants: ether or tokens paid to a
// watched key, and transactions using a tracked sender's nonce.
func (s *Source) Block(ctx context.Context, ref chain.BlockRef, f watcher.Filter) (chain.Block, error) {
	var b *rpcBlock
	if err := s.rpc.CallContext(ctx, &b, "eth_getBlockByHash", ref.Hash, true); err != nil {
		return chain.Block{}, err
	}
	if b == nil || int64(b.Number) != ref.Height || hashString(b.Hash) != ref.Hash {
		return chain.Block{}, fmt.Errorf("evmsource: block %d %s not found", ref.Height, ref.Hash)
	}
	var logs []rpcLog
	if len(s.contracts) > 0 {
		q := map[string]any{"blockHash": ref.Hash, "address": s.contracts, "topics": [][]common.Hash{{transferTopic}}}
		if err := s.rpc.CallContext(ctx, &logs, "eth_getLogs", q); err != nil {
			return chain.Block{}, fmt.Errorf("evmsource: logs of block %d: %w", ref.Height, err)
		}
	}
	out := chain.Block{Height: ref.Height, Hash: ref.Hash, Prev: hashString(b.ParentHash), Time: int64(b.Timestamp)}
	for _, c := range selectCandidates(b, logs, f) {
		r, err := s.receipt(ctx, c.tx.Hash)
		if err != nil {
			return chain.Block{}, err
		}
		if hashString(r.BlockHash) != ref.Hash {
			// The node moved to another branch while we read: the next
			// pass finds the new fork.
			return chain.Block{}, fmt.Errorf("evmsource: transaction %s is no longer in block %d %s", c.tx.Hash.Hex(), ref.Height, ref.Hash)
		}
		out.Txs = append(out.Txs, toTx(c, r, s.assets))
	}
	return out, nil
}

func (s *Source) receipt(ctx context.Context, h common.Hash) (*receipt, error) {
	var r *receipt
	if err := s.rpc.CallContext(ctx, &r, "eth_getTransactionReceipt", h); err != nil {
		return nil, fmt.Errorf("evmsource: receipt %s: %w", h.Hex(), err)
	}
	if r == nil {
		return nil, fmt.Errorf("evmsource: no receipt for %s", h.Hex())
	}
	return r, nil
}

// Mempool returns nothing: see the package comment.
func (s *Source) Mempool(context.Context) ([]string, error) { return nil, nil }

// Tx is never called (NoMempool) and fails.
func (s *Source) Tx(context.Context, string) (chain.Tx, error) { return chain.Tx{}, ErrNoMempool }

// KeyOf returns the 20 bytes of an account address.
func (s *Source) KeyOf(addr string) (chain.Key, error) {
	a, err := evmnet.ParseAddress(addr)
	if err != nil {
		return chain.Key{}, err
	}
	return keyOf(a), nil
}

// AddressOf returns the EIP-55 checksummed address of a key, as invoices
// store it.
func (s *Source) AddressOf(k chain.Key) string { return common.Address(k).Hex() }

// Wakeups returns a nil channel: the watcher polls (a newHeads
// subscription would need a websocket endpoint, which providers ration).
func (s *Source) Wakeups(context.Context) (<-chan struct{}, error) { return nil, nil }

// hashString is the form block and transaction hashes are stored in:
// lower-case hex with 0x.
func hashString(h common.Hash) string { return strings.ToLower(h.Hex()) }
