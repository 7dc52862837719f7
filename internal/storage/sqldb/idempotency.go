package sqldb

import (
	"context"
	"database/sql"
	"time"

	"github.com/cryptopay/cryptopay/internal/storage"
)

const idempotencyCols = `store_id, key, method, path, request_hash, status, body, created_at`

// GetIdempotencyRecord returns the record for (storeID, key), or
// storage.ErrNotFound.
func (s *queries) GetIdempotencyRecord(ctx context.Context, storeID, key string) (*storage.IdempotencyRecord, error) {
	var (
		r       storage.IdempotencyRecord
		created int64
	)
	err := s.queryRow(ctx, `SELECT `+idempotencyCols+` FROM idempotency_records
		WHERE store_id = ? AND key = ?`, storeID, key).Scan(&r.StoreID, &r.Key, &r.Method, &r.Path,
		&r.RequestHash, &r.Status, &r.Body, &created)
	if err != nil {
		return nil, s.wrap("get idempotency record", err)
	}
	r.CreatedAt = fromMicros(created)
	return &r, nil
}

// PutIdempotencyRecord inserts r. A record for the same (store, key) is a
// *storage.ConflictError on "idempotency_records_pkey"; the transaction
// stays usable after it on both engines.
func (t *Tx) PutIdempotencyRecord(ctx context.Context, r *storage.IdempotencyRecord) error {
	body := r.Body
	if body == nil {
		body = []byte{} // NOT NULL column; an empty body reads back empty
	}
	var key string
	err := t.queryRow(ctx, `INSERT INTO idempotency_records (`+idempotencyCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (store_id, key) DO NOTHING RETURNING key`,
		r.StoreID, r.Key, r.Method, r.Path, r.RequestHash, r.Status, body, micros(r.CreatedAt)).Scan(&key)
	if err == sql.ErrNoRows {
		return &storage.ConflictError{Constraint: "idempotency_records_pkey"}
	}
	return t.wrap("put idempotency record", err)
}

// DeleteIdempotencyRecords deletes records created before cutoff and
// returns how many.
func (t *Tx) DeleteIdempotencyRecords(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := t.exec(ctx, `DELETE FROM idempotency_records WHERE created_at < ?`, micros(cutoff))
	if err != nil {
		return 0, t.wrap("delete idempotency records", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, t.wrap("delete idempotency records", err)
	}
	return n, nil
}
