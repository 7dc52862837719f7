package sqldb

import (
	"context"
	"database/sql"
	"time"

	"github.com/cryptopay/cryptopay/internal/storage"
)

const idempotencyCols = `api_key_id, key, method, path, request_hash, state, status, body, created_at`

// GetIdempotencyRecord returns the record for (apiKeyID, key), or
// storage.ErrNotFound.
func (s *queries) GetIdempotencyRecord(ctx context.Context, apiKeyID, key string) (*storage.IdempotencyRecord, error) {
	var (
		r       storage.IdempotencyRecord
		state   string
		created int64
	)
	err := s.queryRow(ctx, `SELECT `+idempotencyCols+` FROM idempotency_records
		WHERE api_key_id = ? AND key = ?`, apiKeyID, key).Scan(&r.APIKeyID, &r.Key, &r.Method, &r.Path,
		&r.RequestHash, &state, &r.Status, &r.Body, &created)
	if err != nil {
		return nil, s.wrap("get idempotency record", err)
	}
	r.State = storage.IdempotencyState(state)
	if r.Body == nil {
		r.Body = []byte{} // SQLite reads an empty BLOB as NULL, PostgreSQL as empty
	}
	r.CreatedAt = fromMicros(created)
	return &r, nil
}

// PutIdempotencyRecord inserts r. A record for the same (API key, key) is a
// *storage.ConflictError on "idempotency_records_pkey". ON CONFLICT DO
// NOTHING keeps the transaction usable on PostgreSQL, and still waits for
// a concurrent inserter of the same key to finish before deciding.
func (t *Tx) PutIdempotencyRecord(ctx context.Context, r *storage.IdempotencyRecord) error {
	body := r.Body
	if body == nil {
		body = []byte{} // NOT NULL column; an empty body reads back empty
	}
	var key string
	err := t.queryRow(ctx, `INSERT INTO idempotency_records (`+idempotencyCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (api_key_id, key) DO NOTHING RETURNING key`,
		r.APIKeyID, r.Key, r.Method, r.Path, r.RequestHash, string(r.State), r.Status, body,
		micros(r.CreatedAt)).Scan(&key)
	if err == sql.ErrNoRows {
		return &storage.ConflictError{Constraint: "idempotency_records_pkey"}
	}
	return t.wrap("put idempotency record", err)
}

// CompleteIdempotencyRecord stores the response of a pending record.
func (t *Tx) CompleteIdempotencyRecord(ctx context.Context, apiKeyID, key string, status int, body []byte) error {
	if body == nil {
		body = []byte{}
	}
	res, err := t.exec(ctx, `UPDATE idempotency_records SET state = ?, status = ?, body = ?
		WHERE api_key_id = ? AND key = ? AND state = ?`,
		string(storage.IdempotencyDone), status, body, apiKeyID, key, string(storage.IdempotencyPending))
	return t.mustAffect("complete idempotency record", res, err)
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
