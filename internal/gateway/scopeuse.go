package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// scopeUsage throttles per-scope use records to one write per key and
// scope per minute (usageWriteEvery), so a read-only request does not
// become a write transaction each time it is made.
type scopeUsage struct {
	mu   sync.Mutex
	last map[scopeUseKey]time.Time
}

type scopeUseKey struct {
	keyID string
	scope cryptopay.Scope
}

// NoteScopeUse records that k was used for a request needing scope, for
// the least-privilege check of `cryptopay doctor`. Call it once the
// request is authorised. Writes are throttled in memory; a failed write
// is logged and never fails the request.
func (s *Service) NoteScopeUse(ctx context.Context, k *cryptopay.APIKey, scope cryptopay.Scope) {
	now := s.Now()
	id := scopeUseKey{k.ID, scope}
	s.scopes.mu.Lock()
	if s.scopes.last == nil {
		s.scopes.last = map[scopeUseKey]time.Time{}
	}
	prev, seen := s.scopes.last[id]
	due := !seen || now.Sub(prev) >= usageWriteEvery || now.Before(prev)
	if due {
		s.scopes.last[id] = now
	}
	s.scopes.mu.Unlock()
	if !due {
		return
	}
	err := s.db.InTx(ctx, func(tx storage.Tx) error { return tx.TouchKeyScope(ctx, k.ID, scope, now) })
	if err != nil {
		s.scopes.mu.Lock()
		if s.scopes.last[id].Equal(now) {
			delete(s.scopes.last, id) // try again on the next request
		}
		s.scopes.mu.Unlock()
		s.log.WarnContext(ctx, "record api key scope use", "key", k.ID, "scope", string(scope), "err", err)
	}
}

// UnusedScopes returns the scopes k holds that r records no use of at or
// after since, in k's order. It returns read errors as they are.
func UnusedScopes(ctx context.Context, r storage.Reader, k *cryptopay.APIKey, since time.Time) ([]cryptopay.Scope, error) {
	uses, err := r.ListKeyScopeUse(ctx, k.ID)
	if err != nil {
		return nil, err
	}
	used := map[cryptopay.Scope]bool{}
	for _, u := range uses {
		if !u.LastUsedAt.Before(since) {
			used[u.Scope] = true
		}
	}
	var out []cryptopay.Scope
	for _, sc := range k.Scopes {
		if !used[sc] {
			out = append(out, sc)
		}
	}
	return out, nil
}
