package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/cryptopay/cryptopay"
)

// storeCacheTTL bounds how stale a store's settings may be on the invoice
// path. Stores are created, never edited in place today; the bound keeps a
// future settings change (on this or another instance) visible within
// seconds while sparing every invoice one to two reads of a row that does
// not change. Derivation indexes, and the keys deposit addresses derive
// from, never come from here (see address.go).
const storeCacheTTL = 5 * time.Second

type storeCache struct {
	mu      sync.Mutex
	entries map[string]cachedStore
}

type cachedStore struct {
	store *cryptopay.Store
	at    time.Time
}

// cachedStore returns the store from the cache when it is fresh, else
// reads it. Callers must not modify the result.
func (s *Service) cachedStore(ctx context.Context, id string) (*cryptopay.Store, error) {
	now := time.Now()
	s.stores.mu.Lock()
	e, ok := s.stores.entries[id]
	s.stores.mu.Unlock()
	if ok && now.Sub(e.at) < storeCacheTTL {
		return e.store, nil
	}
	st, err := s.GetStore(ctx, id)
	if err != nil {
		return nil, err
	}
	s.stores.mu.Lock()
	if s.stores.entries == nil {
		s.stores.entries = map[string]cachedStore{}
	}
	s.stores.entries[id] = cachedStore{st, now}
	s.stores.mu.Unlock()
	return st, nil
}
