package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// addressBlockSize is how many derivation indexes a process reserves at
// once. Reserving in blocks keeps the wallet row out of every invoice's
// transaction, so invoices of one store commit in parallel (on PostgreSQL
// the row lock would otherwise serialise them through commit). An index is
// never handed out twice, by one process or by several.
const addressBlockSize = 10

// addressRefillAt is how few indexes may be left in the block in use
// before the next block is reserved, in the background: the reservation
// runs while those are handed out, so no request waits for it (measured
// before: at 32 clients a third of the request goroutines waited here
// every tenth invoice).
//
// The gap limit: a process that stops leaves unused at most the rest of
// its current block (addressRefillAt once a spare block is reserved) and
// the spare block, addressRefillAt + addressBlockSize = 19 addresses in a
// row, under the usual wallet gap limit of 20, so a wallet restored from
// its seed still finds every payment (TestAddressGapLimit). It is as large
// as that allows: the more indexes left when the reservation starts, the
// longer it may take before a burst of invoices runs out.
const addressRefillAt = addressBlockSize - 1

// addressReserveTimeout bounds one background reservation.
const addressReserveTimeout = 30 * time.Second

// addressPools hands out reserved indexes per store and network.
type addressPools struct {
	mu    sync.Mutex
	pools map[string]*addressPool
}

type addressPool struct {
	mu        sync.Mutex
	next, end uint32 // the unused part of the block in use: [next, end)
	spare     *addressBlock
	// reserving is closed when the reservation in flight ends; nil when
	// none is.
	reserving chan struct{}
	// err is the last reservation's failure, for the callers that waited
	// for it with nothing left to hand out.
	err error
}

// addressBlock is a reserved block of indexes: [first, first+addressBlockSize).
type addressBlock struct{ first uint32 }

// nextAddressIndex returns an unused derivation index of the store's
// wallet on network. It waits for the database only when the process has
// no reserved index left (its first invoice, or a burst that outran the
// background reservation).
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
	for {
		if p.next == p.end && p.spare != nil {
			p.next, p.end, p.spare = p.spare.first, p.spare.first+addressBlockSize, nil
		}
		if p.next < p.end {
			idx := p.next
			p.next++
			if p.end-p.next <= addressRefillAt && p.spare == nil && p.reserving == nil {
				s.reserveAddresses(ctx, p, storeID, network)
			}
			p.mu.Unlock()
			return idx, nil
		}
		if p.reserving == nil {
			// Nothing left and nothing on the way (the first invoice, or
			// the last reservation failed): this caller reserves.
			s.reserveAddresses(ctx, p, storeID, network)
		}
		wait := p.reserving
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		p.mu.Lock()
		if p.next == p.end && p.spare == nil && p.err != nil {
			err := p.err
			p.mu.Unlock()
			return 0, err
		}
	}
}

// reserveAddresses starts reserving the next block of p in the
// background. p.mu is held.
//
// The reservation runs ahead of ordinary writes (storage.WithPriority: on
// PostgreSQL a transaction of its own on the reserved connections, on
// SQLite the group committer's priority queue), so a caller that does wait
// for it waits for no batch of creations. It outlives the request that
// started it (it serves the requests after it) but not the process.
func (s *Service) reserveAddresses(ctx context.Context, p *addressPool, storeID string, network cryptopay.Network) {
	done := make(chan struct{})
	p.reserving = done
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), addressReserveTimeout)
	go func() {
		defer cancel()
		var first uint32
		err := s.db.InTx(storage.WithPriority(ctx), func(tx storage.Tx) error {
			var err error
			first, err = tx.ReserveAddressIndexes(ctx, storeID, network, addressBlockSize)
			return err
		})
		p.mu.Lock()
		p.reserving, p.err = nil, err
		if err == nil {
			p.spare = &addressBlock{first: first}
		}
		p.mu.Unlock()
		close(done)
	}()
}
