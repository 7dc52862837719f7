// Package btcsource is the Bitcoin chain source of the watcher: a thin
// adapter from the node client (btcrpc) and the block parser (btcblock) to
// watcher.Source. It holds no state beyond the client and makes no
// decisions; the tracker and the watcher do.
package btcsource

import (
	"context"
	"fmt"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/btcrpc"
	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/cryptopay/cryptopay/internal/watcher"
)

// Source implements watcher.Source over a node client.
type Source struct {
	client  *btcrpc.Client
	network cryptopay.Network
	params  *chaincfg.Params
}

var _ watcher.Source = (*Source)(nil)

// New returns a source for network over client, whose Params must match.
func New(client *btcrpc.Client, network cryptopay.Network) *Source {
	return &Source{client: client, network: network, params: client.Params()}
}

// Params returns the network parameters for network, or an error for a
// network this package does not serve.
func Params(n cryptopay.Network) (*chaincfg.Params, error) {
	switch n {
	case cryptopay.NetworkBitcoin:
		return &chaincfg.MainNetParams, nil
	case cryptopay.NetworkBitcoinTestnet:
		return &chaincfg.TestNet3Params, nil
	case cryptopay.NetworkBitcoinSignet:
		return &chaincfg.SigNetParams, nil
	case cryptopay.NetworkBitcoinRegtest:
		return &chaincfg.RegressionNetParams, nil
	}
	return nil, fmt.Errorf("btcsource: %q is not a Bitcoin network", n)
}

// Network returns the watched network.
func (s *Source) Network() cryptopay.Network { return s.network }

// Tip returns the node's best block.
func (s *Source) Tip(ctx context.Context) (chain.BlockRef, error) {
	// Two calls can straddle a new block; asking for the hash at the
	// height keeps the pair consistent.
	h, err := s.client.BlockCount(ctx)
	if err != nil {
		return chain.BlockRef{}, err
	}
	hash, err := s.client.BlockHash(ctx, h)
	if err != nil {
		return chain.BlockRef{}, err
	}
	return chain.BlockRef{Height: h, Hash: hash}, nil
}

// BlockHash returns the best chain's hash at height.
func (s *Source) BlockHash(ctx context.Context, height int64) (string, error) {
	return s.client.BlockHash(ctx, height)
}

// Block fetches and parses a block, keeping what f wants.
func (s *Source) Block(ctx context.Context, ref chain.BlockRef, f watcher.Filter) (chain.Block, error) {
	return s.client.Block(ctx, ref.Height, ref.Hash, f)
}

// Mempool lists the node's mempool.
func (s *Source) Mempool(ctx context.Context) ([]string, error) { return s.client.RawMempool(ctx) }

// Tx fetches and parses one transaction.
func (s *Source) Tx(ctx context.Context, txid string) (chain.Tx, error) {
	return s.client.Transaction(ctx, txid)
}

// KeyOf returns the witness program of a P2WPKH address on this network.
func (s *Source) KeyOf(addr string) (chain.Key, error) {
	a, err := address.DecodeAddress(addr, s.params)
	if err != nil {
		return chain.Key{}, err
	}
	if !a.IsForNet(s.params) {
		return chain.Key{}, fmt.Errorf("btcsource: %s is not a %s address", addr, s.network)
	}
	w, ok := a.(*address.AddressWitnessPubKeyHash)
	if !ok {
		return chain.Key{}, fmt.Errorf("btcsource: %s is not a P2WPKH address", addr)
	}
	var k chain.Key
	copy(k[:], w.WitnessProgram())
	return k, nil
}

// AddressOf returns the P2WPKH address of a key on this network.
func (s *Source) AddressOf(k chain.Key) string {
	a, err := address.NewAddressWitnessPubKeyHash(k[:], s.params)
	if err != nil {
		return "" // a 20-byte program is always valid
	}
	return a.EncodeAddress()
}

// Wakeups turns the node's push notifications (btcd's websocket) into
// wake-up signals; a node without them (Bitcoin Core) yields a nil channel
// and the watcher polls.
func (s *Source) Wakeups(ctx context.Context) (<-chan struct{}, error) {
	notes, err := s.client.Subscribe(ctx) // btcrpc.ErrUnsupported without push
	if err != nil {
		return nil, err
	}
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		for range notes {
			select {
			case out <- struct{}{}:
			default: // a wake-up is already pending; it covers this one
			}
		}
	}()
	return out, nil
}
