package gateway

import (
	"context"
	"sync"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// addressBlockSize is how many derivation indexes a process reserves at
// once. Reserving in blocks keeps the wallet row out of every invoice's
// transaction, so invoices of one store commit in parallel (on PostgreSQL
// the row lock would otherwise serialise them through commit). The price
// is a gap of at most addressBlockSize-1 unused addresses when a process
// stops; it stays under the usual wallet gap limit of 20, so a wallet
// restored from its seed still finds every payment. An index is never
// handed out twice, by one process or by several.
const addressBlockSize = 10

// addressPools hands out reserved indexes per store and network.
type addressPools struct {
	mu    sync.Mutex
	pools map[string]*addressPool
}

type addressPool struct {
	mu        sync.Mutex // held while a new block is reserved, so only one is
	next, end uint32     // the unused part of the reserved block: [next, end)
}

// nextAddressIndex returns an unused derivation index of the store's
// wallet on network, reserving a new block from the database when the
// current one is spent.
func (s *Service) nextAddressIndex(ctx context.Context, storeID string, network cryptopay.Network) (uint32, error) {
	key := storeID + "/" + string(network)
	s.addrs.mu.Lock()
	if s.addrs.pools == nil {
		s.addrs.pools = map[string]*addressPool{}
	}
	p := s.addrs.pools[key]
	if p == nil {
		p = &addressPool{}
		s.addrs.pools[key] = p
	}
	s.addrs.mu.Unlock()

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next < p.end {
		idx := p.next
		p.next++
		return idx, nil
	}
	// The reservation runs ahead of ordinary writes (storage.WithPriority:
	// on PostgreSQL a transaction of its own on the reserved connections,
	// on SQLite the group committer's priority queue): every creator of
	// this store's invoices waits for it on p.mu, so queueing it behind a
	// batch of their own creations made them all wait for that batch
	// (measured: most of the request goroutines parked here at 32
	// clients). It is one small UPDATE, as the priority rule asks.
	var first uint32
	err := s.db.InTx(storage.WithPriority(ctx), func(tx storage.Tx) error {
		var err error
		first, err = tx.ReserveAddressIndexes(ctx, storeID, network, addressBlockSize)
		return err
	})
	if err != nil {
		return 0, err
	}
	p.next, p.end = first+1, first+addressBlockSize
	return first, nil
}
