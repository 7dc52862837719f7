package storage

import (
	"context"
	"time"

	"github.com/cryptopay/cryptopay"
)

// KeyScopeUse is when an API key last used one of its scopes: when a
// request needing that scope was authorised with the key.
type KeyScopeUse struct {
	KeyID      string
	Scope      cryptopay.Scope
	LastUsedAt time.Time
}

// KeyUsageReader reads per-scope key use, for the least-privilege check
// (`cryptopay doctor`).
type KeyUsageReader interface {
	// ListKeyScopeUse returns the last use of every scope the key has
	// used, ordered by scope; an empty list for a key never used (or an
	// unknown key).
	ListKeyScopeUse(ctx context.Context, keyID string) ([]KeyScopeUse, error)
}

// KeyUsageTx records per-scope key use.
type KeyUsageTx interface {
	// TouchKeyScope records that key keyID used scope at at. It only ever
	// moves the recorded time forward, so two instances writing out of
	// order cannot make a scope look idle. An unknown key wraps
	// ErrForeignKey.
	TouchKeyScope(ctx context.Context, keyID string, scope cryptopay.Scope, at time.Time) error
}
