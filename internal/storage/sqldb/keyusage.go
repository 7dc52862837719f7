package sqldb

import (
	"context"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// ListKeyScopeUse returns the key's recorded scope uses ordered by scope.
func (s *queries) ListKeyScopeUse(ctx context.Context, keyID string) ([]storage.KeyScopeUse, error) {
	rows, err := s.query(ctx, `SELECT key_id, scope, last_used_at FROM api_key_scope_usage
		WHERE key_id = ? ORDER BY scope`, keyID)
	if err != nil {
		return nil, s.wrap("list key scope use", err)
	}
	defer rows.Close()
	out := []storage.KeyScopeUse{}
	for rows.Next() {
		var (
			u     storage.KeyScopeUse
			scope string
			at    int64
		)
		if err := rows.Scan(&u.KeyID, &scope, &at); err != nil {
			return nil, s.wrap("list key scope use", err)
		}
		u.Scope, u.LastUsedAt = cryptopay.Scope(scope), fromMicros(at)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list key scope use", err)
	}
	return out, nil
}

// TouchKeyScope upserts the (key, scope) row, keeping the later of the
// stored and the given time. The upsert is one statement both engines
// accept; an unknown key wraps storage.ErrForeignKey.
func (t *Tx) TouchKeyScope(ctx context.Context, keyID string, scope cryptopay.Scope, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO api_key_scope_usage (key_id, scope, last_used_at) VALUES (?, ?, ?)
		ON CONFLICT (key_id, scope) DO UPDATE SET last_used_at = excluded.last_used_at
		WHERE excluded.last_used_at > api_key_scope_usage.last_used_at`,
		keyID, string(scope), micros(at))
	return t.wrap("touch key scope", err)
}
