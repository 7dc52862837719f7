package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/cryptopay/cryptopay"
)

// KeyCacheTTL bounds how long an API key read by its hash is reused
// without reading it again. Authentication is on every request, and the
// key row changes only when the key is revoked, rotated or (throttled)
// marked used, so reading it once a second instead of once a request
// spares the database most of the API's reads.
//
// It is also the bound on how late a revocation or rotation made elsewhere
// takes effect here: by another gateway instance on the same PostgreSQL
// database, or by `cryptopay keys revoke` beside a running SQLite gateway.
// Both read the row again at most KeyCacheTTL after it was last read, so a
// revoked key is refused everywhere within 1 s. On the instance that made
// the change it takes effect at once (the cache is cleared when its
// transaction commits). A key that is not found is never cached, so a new
// key works at once everywhere.
const KeyCacheTTL = time.Second

type keyCache struct {
	mu sync.Mutex
	m  map[string]cachedKey // by string(hash)
	// gen counts clears: a read that began before a clear must not store
	// what it read (it may predate the change that caused the clear).
	gen uint64
}

type cachedKey struct {
	key *cryptopay.APIKey
	at  time.Time // when it was read, on the monotonic clock
}

// keyByHash returns the key whose secret hashes to hash, from the cache
// when it was read less than KeyCacheTTL ago. The result is the caller's
// own copy (noteUse writes to it); its slices are shared and must not be
// modified. Errors are the store's (storage.ErrNotFound for none).
func (s *Service) keyByHash(ctx context.Context, hash []byte) (*cryptopay.APIKey, error) {
	now := time.Now()
	s.keyCache.mu.Lock()
	e, ok := s.keyCache.m[string(hash)]
	gen := s.keyCache.gen
	s.keyCache.mu.Unlock()
	if ok && now.Sub(e.at) < KeyCacheTTL {
		k := *e.key
		return &k, nil
	}
	k, err := s.db.GetAPIKeyByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	cached := *k
	s.keyCache.mu.Lock()
	if s.keyCache.gen == gen {
		if s.keyCache.m == nil {
			s.keyCache.m = map[string]cachedKey{}
		}
		s.keyCache.m[string(hash)] = cachedKey{key: &cached, at: now}
	}
	s.keyCache.mu.Unlock()
	return k, nil
}

// forgetKeys clears the cache after this instance changed a key, so the
// change applies to its very next request.
func (s *Service) forgetKeys() {
	s.keyCache.mu.Lock()
	clear(s.keyCache.m)
	s.keyCache.gen++
	s.keyCache.mu.Unlock()
}
