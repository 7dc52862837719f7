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

// A replaced account key (store_key.go) starts at index 0 on the wallet
// row (storage.Tx.ReplaceWalletKey), so a block of the old key and one of
// the new key can hold the same index numbers: each block carries the key
// it was reserved under, read in the same row update as its indexes, and
// an invoice's address is derived from its index's block's key, never
// from the store cache's copy of the wallet. The key generation orders
// keys: once the pool has seen a generation (a reservation's result, this
// process's replacement, or a store read made after it), it drops the
// blocks of older generations and hands out only newer keys' indexes. An
// instance that has not yet heard of a replacement hands out at most the
// rest of its blocks under the old key (no more than addressRefillAt +
// addressBlockSize addresses, and for no longer than storeCacheTTL once
// invoices keep coming); those addresses are the old wallet's, watched
// like any other, and their indexes were counted in the old key's
// high-water, so they are never handed out again if the key comes back.
type addressPool struct {
	mu    sync.Mutex
	cur   addressBlock // the unused part of the block in use: [cur.next, cur.end)
	spare *addressBlock
	gen   int64 // the newest key generation seen
	// reserving is closed when the reservation in flight ends; nil when
	// none is.
	reserving chan struct{}
	// err is the last reservation's failure, for the callers that waited
	// for it with nothing left to hand out.
	err error
}

// addressBlock is the unused part [next, end) of a reserved block, with
// the key it was reserved under.
type addressBlock struct {
	next, end   uint32
	accountKey  string
	fingerprint string
	gen         int64
}

// addressSlot is one handed-out index and the key to derive it from.
type addressSlot struct {
	index       uint32
	accountKey  string
	fingerprint string
}

// learn records that the wallet's key generation is at least gen and
// drops the blocks of older generations. p.mu is held.
func (p *addressPool) learn(gen int64) {
	if gen <= p.gen {
		return
	}
	p.gen = gen
	if p.cur.gen < gen {
		p.cur = addressBlock{}
	}
	if p.spare != nil && p.spare.gen < gen {
		p.spare = nil
	}
}

// pool returns the address pool of the store's wallet on network.
func (s *Service) addressPool(storeID string, network cryptopay.Network) *addressPool {
	key := storeID + "/" + string(network)
	s.addrs.mu.Lock()
	defer s.addrs.mu.Unlock()
	if s.addrs.pools == nil {
		s.addrs.pools = map[string]*addressPool{}
	}
	p := s.addrs.pools[key]
	if p == nil {
		p = &addressPool{}
		s.addrs.pools[key] = p
	}
	return p
}

// nextAddress returns an unused derivation index of the store's wallet on
// network with the key it belongs to. known is the key generation of the
// caller's (possibly cached) reading of the wallet: blocks of older keys
// are dropped, a newer pool ignores it. It waits for the database only
// when the process has no reserved index left (its first invoice, a burst
// that outran the background reservation, or a key replacement).
func (s *Service) nextAddress(ctx context.Context, storeID string, network cryptopay.Network, known int64) (addressSlot, error) {
	p := s.addressPool(storeID, network)
	p.mu.Lock()
	p.learn(known)
	for {
		if p.cur.next == p.cur.end && p.spare != nil {
			p.cur, p.spare = *p.spare, nil
		}
		if p.cur.next < p.cur.end {
			slot := addressSlot{index: p.cur.next, accountKey: p.cur.accountKey, fingerprint: p.cur.fingerprint}
			p.cur.next++
			if p.cur.end-p.cur.next <= addressRefillAt && p.spare == nil && p.reserving == nil {
				s.reserveAddresses(ctx, p, storeID, network)
			}
			p.mu.Unlock()
			return slot, nil
		}
		if p.reserving == nil {
			// Nothing left and nothing on the way (the first invoice, a
			// replaced key, or the last reservation failed): this caller
			// reserves.
			s.reserveAddresses(ctx, p, storeID, network)
		}
		wait := p.reserving
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return addressSlot{}, ctx.Err()
		}
		p.mu.Lock()
		if p.cur.next == p.cur.end && p.spare == nil && p.err != nil {
			err := p.err
			p.mu.Unlock()
			return addressSlot{}, err
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
// started it (it serves the requests after it) but not the process. A
// block that comes back under an older key than the pool has seen
// meanwhile (the key was replaced while it was in flight) is dropped.
func (s *Service) reserveAddresses(ctx context.Context, p *addressPool, storeID string, network cryptopay.Network) {
	done := make(chan struct{})
	p.reserving = done
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), addressReserveTimeout)
	go func() {
		defer cancel()
		var b storage.AddressBlock
		err := s.db.InTx(storage.WithPriority(ctx), func(tx storage.Tx) error {
			var err error
			b, err = tx.ReserveAddressIndexes(ctx, storeID, network, addressBlockSize)
			return err
		})
		p.mu.Lock()
		p.reserving, p.err = nil, err
		if err == nil {
			p.learn(b.KeyGeneration)
			if b.KeyGeneration == p.gen {
				p.spare = &addressBlock{next: b.First, end: b.First + addressBlockSize,
					accountKey: b.AccountKey, fingerprint: b.Fingerprint, gen: b.KeyGeneration}
			}
		}
		p.mu.Unlock()
		close(done)
	}()
}

// keyReplaced tells this process's pool that the store's wallet on
// network holds generation gen now, so the next invoice derives from the
// new key at once.
func (s *Service) keyReplaced(storeID string, network cryptopay.Network, gen int64) {
	p := s.addressPool(storeID, network)
	p.mu.Lock()
	p.learn(gen)
	p.mu.Unlock()
}
