package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/account"
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
// and its addresses' derivation run while those are handed out, so no
// request waits for either (measured before: at 32 clients a third of the
// request goroutines waited here every tenth invoice).
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
//
// Addresses are derived off the request path: the background reservation
// derives its block's addresses from the block's key right after
// reserving it (deriveBlock), while the block in use is still being
// handed out, so a request takes an address already derived (a secp256k1
// derivation is over a tenth of a millisecond, a large part of one
// invoice's latency). A request derives its own address only when it
// takes an index the background has not reached yet: the first block of
// a pool or of a replaced key (its callers wait for that reservation
// anyway, and it is published before it is derived so that they wait for
// the database only) or a burst that outran the derivation.
type addressPool struct {
	mu    sync.Mutex
	cur   *addressBlock // the block in use; nil or used up when there is none
	spare *addressBlock
	gen   int64 // the newest key generation seen
	// reserving is closed when the reservation in flight has published
	// its block (or failed); nil when none is.
	reserving chan struct{}
	// deriving counts the blocks whose background derivation has not
	// ended (tests wait for it to be 0).
	deriving int
	// derivedInline counts the addresses derived on a request's
	// goroutine because the background had not derived them yet.
	derivedInline int
	// err is the last reservation's failure, for the callers that waited
	// for it with nothing left to hand out.
	err error
}

// addressBlock is a reserved block of indexes [first, end) with the key
// it was reserved under; [next, end) have not been handed out. next and
// addrs are guarded by the pool's mu; the other fields never change.
type addressBlock struct {
	first, next, end uint32
	key              *account.Key
	gen              int64
	// addrs[i-first] is the derivation of index i once done.
	addrs []derivedAddress
}

// derivedAddress is the outcome of deriving one index.
type derivedAddress struct {
	done    bool
	address string
	// err is the derivation's failure: account.ErrUnusableIndex (skip the
	// index, as wallets do) or an index out of range.
	err error
}

// derive derives index of b's key.
func (b *addressBlock) derive(index uint32) derivedAddress {
	a, err := b.key.Address(index)
	return derivedAddress{done: true, address: a.String, err: err}
}

// used reports whether b has nothing left to hand out (a nil b included).
func (b *addressBlock) used() bool { return b == nil || b.next == b.end }

// addressSlot is one handed-out address: its index and the fingerprint of
// the key it was derived from.
type addressSlot struct {
	index       uint32
	address     string
	fingerprint string
}

// learn records that the wallet's key generation is at least gen and
// drops the blocks of older generations. p.mu is held.
func (p *addressPool) learn(gen int64) {
	if gen <= p.gen {
		return
	}
	p.gen = gen
	if p.cur != nil && p.cur.gen < gen {
		p.cur = nil
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

// nextAddress returns an unused deposit address of the store's wallet on
// network with its index, derived from the key the index was reserved
// under. known is the key generation of the caller's (possibly cached)
// reading of the wallet: blocks of older keys are dropped, a newer pool
// ignores it. It waits for the database only when the process has no
// reserved index left (its first invoice, a burst that outran the
// background reservation, or a key replacement), and derives on the
// caller's goroutine only an index the background derivation has not
// reached.
func (s *Service) nextAddress(ctx context.Context, storeID string, network cryptopay.Network, known int64) (addressSlot, error) {
	p := s.addressPool(storeID, network)
	p.mu.Lock()
	p.learn(known)
	for {
		if p.cur.used() && p.spare != nil {
			p.cur, p.spare = p.spare, nil
		}
		if b := p.cur; !b.used() {
			index := b.next
			b.next++
			d := b.addrs[index-b.first]
			if b.end-b.next <= addressRefillAt && p.spare == nil && p.reserving == nil {
				s.reserveAddresses(ctx, p, storeID, network)
			}
			if !d.done {
				p.derivedInline++
			}
			p.mu.Unlock()
			if !d.done {
				d = b.derive(index)
			}
			if errors.Is(d.err, account.ErrUnusableIndex) {
				// BIP32's one-in-2^127 invalid child: skip it, as
				// wallets do.
				p.mu.Lock()
				continue
			}
			if d.err != nil {
				return addressSlot{}, fmt.Errorf("derive address %d of key %s: %w", index, b.key.Fingerprint(), d.err)
			}
			return addressSlot{index: index, address: d.address, fingerprint: b.key.Fingerprint()}, nil
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
		if p.cur.used() && p.spare == nil && p.err != nil {
			err := p.err
			p.mu.Unlock()
			return addressSlot{}, err
		}
	}
}

// reserveAddresses starts reserving the next block of p in the
// background, and deriving its addresses once it is reserved. p.mu is
// held.
//
// The reservation runs ahead of ordinary writes (storage.WithPriority: on
// PostgreSQL one statement of its own on the reserved connections, on
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
		r, err := s.db.ReserveAddressIndexes(storage.WithPriority(ctx), storeID, network, addressBlockSize)
		reserved := err == nil
		var key *account.Key
		if reserved {
			// Parsed once per key (the service's cache): the block's own
			// key, not the store cache's.
			if key, err = s.accountKey(storeID, cryptopay.Wallet{Network: network, AccountKey: r.AccountKey}); err != nil {
				err = fmt.Errorf("store %s wallet %s key %s: %w", storeID, network, r.Fingerprint, err)
			}
		}
		var b *addressBlock
		p.mu.Lock()
		p.reserving, p.err = nil, err
		if reserved {
			p.learn(r.KeyGeneration)
		}
		if err == nil && r.KeyGeneration == p.gen {
			b = &addressBlock{first: r.First, next: r.First, end: r.First + addressBlockSize,
				key: key, gen: r.KeyGeneration, addrs: make([]derivedAddress, addressBlockSize)}
			p.spare = b
			p.deriving++
		}
		p.mu.Unlock()
		close(done)
		if b != nil {
			p.deriveBlock(b)
		}
	}()
}

// deriveBlock derives the addresses of b in index order, the order they
// are handed out in, skipping those already handed out (a request took
// them before the derivation reached them) and stopping once b has left
// the pool (used up, or dropped for a newer key).
func (p *addressPool) deriveBlock(b *addressBlock) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() { p.deriving-- }()
	for index := b.first; index < b.end; index++ {
		if b != p.cur && b != p.spare {
			return
		}
		if index < b.next {
			continue
		}
		p.mu.Unlock()
		d := b.derive(index)
		p.mu.Lock()
		b.addrs[index-b.first] = d
	}
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
