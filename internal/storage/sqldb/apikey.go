package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

const apiKeyCols = `id, store_id, name, livemode, hash, last4, scopes, allowed_ips, created_at,
	expires_at, revoked_at, last_used_at, last_used_ip, rotated_to`

func scanAPIKey(row interface{ Scan(...any) error }) (*cryptopay.APIKey, error) {
	var (
		k                 cryptopay.APIKey
		scopes, ips       string
		created, expires  int64
		revoked, lastUsed sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.StoreID, &k.Name, &k.Livemode, &k.Hash, &k.Last4, &scopes, &ips,
		&created, &expires, &revoked, &lastUsed, &k.LastUsedIP, &k.RotatedTo); err != nil {
		return nil, err
	}
	if err := fromJSON(scopes, &k.Scopes); err != nil {
		return nil, err
	}
	if err := fromJSON(ips, &k.AllowedIPs); err != nil {
		return nil, err
	}
	k.CreatedAt, k.ExpiresAt = fromMicros(created), fromMicros(expires)
	k.RevokedAt, k.LastUsedAt = fromNullMicros(revoked), fromNullMicros(lastUsed)
	return &k, nil
}

// GetAPIKey returns the key with id, or storage.ErrNotFound.
func (s *queries) GetAPIKey(ctx context.Context, id string) (*cryptopay.APIKey, error) {
	k, err := scanAPIKey(s.queryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE id = ?`, id))
	if err != nil {
		return nil, s.wrap("get api key", err)
	}
	return k, nil
}

// GetAPIKeyByHash returns the key whose secret hashes to hash, or
// storage.ErrNotFound. It returns revoked and expired keys too; the caller
// decides.
func (s *queries) GetAPIKeyByHash(ctx context.Context, hash []byte) (*cryptopay.APIKey, error) {
	k, err := scanAPIKey(s.queryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE hash = ?`, hash))
	if err != nil {
		return nil, s.wrap("get api key", err)
	}
	return k, nil
}

// ListAPIKeys returns the store's keys, newest first; an empty list for a
// store without keys or an unknown store.
func (s *queries) ListAPIKeys(ctx context.Context, storeID string) ([]cryptopay.APIKey, error) {
	rows, err := s.query(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE store_id = ? ORDER BY id DESC`, storeID)
	if err != nil {
		return nil, s.wrap("list api keys", err)
	}
	defer rows.Close()
	var out []cryptopay.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, s.wrap("list api keys", err)
		}
		out = append(out, *k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list api keys", err)
	}
	return out, nil
}

// CreateAPIKey inserts a key. A second key with the same hash is a
// *storage.ConflictError on "api_keys_hash_key"; an unknown store wraps
// storage.ErrForeignKey. The conflict is detected with ON CONFLICT DO
// NOTHING rather than a failed statement, so on PostgreSQL the transaction
// stays usable after it, as it does on SQLite.
func (t *Tx) CreateAPIKey(ctx context.Context, k *cryptopay.APIKey) error {
	scopes, err := toJSON(k.Scopes)
	if err != nil {
		return fmt.Errorf("storage: create api key: %w", err)
	}
	ips, err := toJSON(k.AllowedIPs)
	if err != nil {
		return fmt.Errorf("storage: create api key: %w", err)
	}
	var id string
	err = t.queryRow(ctx, `INSERT INTO api_keys (`+apiKeyCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (hash) DO NOTHING RETURNING id`,
		k.ID, k.StoreID, k.Name, k.Livemode, k.Hash, k.Last4, scopes, ips, micros(k.CreatedAt),
		micros(k.ExpiresAt), nullMicros(k.RevokedAt), nullMicros(k.LastUsedAt), k.LastUsedIP,
		k.RotatedTo).Scan(&id)
	if err == sql.ErrNoRows {
		return &storage.ConflictError{Constraint: "api_keys_hash_key"}
	}
	return t.wrap("create api key", err)
}

// UpdateAPIKey writes RevokedAt and RotatedTo, or returns
// storage.ErrNotFound.
func (t *Tx) UpdateAPIKey(ctx context.Context, k *cryptopay.APIKey) error {
	res, err := t.exec(ctx, `UPDATE api_keys SET revoked_at = ?, rotated_to = ? WHERE id = ?`,
		nullMicros(k.RevokedAt), k.RotatedTo, k.ID)
	return t.mustAffect("update api key", res, err)
}

// TouchAPIKey writes only last_used_at and last_used_ip, or returns
// storage.ErrNotFound.
func (t *Tx) TouchAPIKey(ctx context.Context, id string, at time.Time, ip string) error {
	res, err := t.exec(ctx, `UPDATE api_keys SET last_used_at = ?, last_used_ip = ? WHERE id = ?`,
		micros(at), ip, id)
	return t.mustAffect("touch api key", res, err)
}
