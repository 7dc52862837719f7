package sqldb

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay/internal/storage"
)

const auditCols = `seq, id, store_id, livemode, actor, action, target, source_ip, request_id,
	details, created_at, prev_hash, hash`

func scanAudit(row interface{ Scan(...any) error }) (*storage.AuditEntry, error) {
	var (
		e       storage.AuditEntry
		created int64
	)
	if err := row.Scan(&e.Seq, &e.ID, &e.StoreID, &e.Livemode, &e.Actor, &e.Action, &e.Target,
		&e.SourceIP, &e.RequestID, &e.Details, &created, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.CreatedAt = fromMicros(created)
	return &e, nil
}

// AppendAudit assigns e the next sequence number and links it to the
// chain head. The head row is updated first: on PostgreSQL that takes its
// row lock, so a concurrent append waits for this transaction and then
// reads the head this one wrote (READ COMMITTED re-reads an updated row);
// on SQLite the single writer already serialises transactions. Either
// way two appends can never share a predecessor.
//
// The hash is keyed with the audit key of the keyring's primary key (see
// storage.AuditHash); without a keyring it is the unkeyed form, which a
// strictly sealed database refuses, as it refuses plain values.
func (t *Tx) AppendAudit(ctx context.Context, e *storage.AuditEntry) error {
	kr := t.crypt.keyring()
	keyID, key := "", []byte(nil)
	if kr.Enabled() {
		keyID = kr.PrimaryID()
		key, _ = kr.AuditKey(keyID)
	} else if err := t.crypt.plainAllowed(); err != nil {
		return fmt.Errorf("append audit: an unkeyed entry: %w", err)
	}
	var prev []byte
	err := t.queryRow(ctx, `UPDATE audit_chain_head SET seq = seq + 1 WHERE id = 1
		RETURNING seq, hash`).Scan(&e.Seq, &prev)
	if err != nil {
		return t.wrap("append audit: head", err)
	}
	if e.Details == "" {
		e.Details = "{}"
	}
	e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond) // as stored
	e.PrevHash = append([]byte{}, prev...)
	e.Hash = storage.AuditHash(e, keyID, key)
	if _, err := t.exec(ctx, `INSERT INTO audit_log (`+auditCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, e.ID, e.StoreID, e.Livemode, e.Actor, e.Action, e.Target, e.SourceIP, e.RequestID,
		e.Details, micros(e.CreatedAt), e.PrevHash, e.Hash); err != nil {
		return t.wrap("append audit", err)
	}
	if _, err := t.exec(ctx, `UPDATE audit_chain_head SET hash = ? WHERE id = 1`, e.Hash); err != nil {
		return t.wrap("append audit: head", err)
	}
	return nil
}

// ListAuditEntries returns the filter's entries newest first (by Seq)
// and whether more follow.
func (s *queries) ListAuditEntries(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEntry, bool, error) {
	var q strings.Builder
	q.WriteString(`SELECT ` + auditCols + ` FROM audit_log WHERE store_id = ? AND livemode = ?`)
	args := []any{f.StoreID, f.Livemode}
	if f.Action != "" {
		q.WriteString(` AND action = ?`)
		args = append(args, f.Action)
	}
	if f.BeforeSeq > 0 {
		q.WriteString(` AND seq < ?`)
		args = append(args, f.BeforeSeq)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	q.WriteString(` ORDER BY seq DESC LIMIT ?`)
	args = append(args, limit+1)
	out, err := s.auditRows(ctx, q.String(), args...)
	if err != nil {
		return nil, false, err
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// AuditChain returns up to limit entries after afterSeq in Seq order.
func (s *queries) AuditChain(ctx context.Context, afterSeq int64, limit int) ([]storage.AuditEntry, error) {
	return s.auditRows(ctx, `SELECT `+auditCols+` FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`,
		afterSeq, limit)
}

func (s *queries) auditRows(ctx context.Context, query string, args ...any) ([]storage.AuditEntry, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, s.wrap("list audit", err)
	}
	defer rows.Close()
	var out []storage.AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, s.wrap("list audit", err)
		}
		out = append(out, *e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list audit", err)
	}
	return out, nil
}

// AuditKey returns the audit MAC key of an encryption key of the DB's
// keyring, so storage.VerifyAudit checks keyed entries with the keys the
// DB writes with.
func (db *DB) AuditKey(id string) ([]byte, bool) { return db.crypt.keyring().AuditKey(id) }

// AuditHead returns the chain head as recorded by the last append.
func (s *queries) AuditHead(ctx context.Context) (int64, []byte, error) {
	var (
		seq  int64
		hash []byte
	)
	err := s.queryRow(ctx, `SELECT seq, hash FROM audit_chain_head WHERE id = 1`).Scan(&seq, &hash)
	if err != nil {
		return 0, nil, s.wrap("audit head", err)
	}
	return seq, hash, nil
}

// RedactInvoice replaces the invoice's customer reference with "" and its
// metadata with null, both sealed like any other value, so nothing of the
// old values remains in the row. Amounts, addresses, payments and events
// (which never carry either field) stay for record keeping.
func (t *Tx) RedactInvoice(ctx context.Context, id string) error {
	ref, err := t.seal("invoices", "customer_reference", id, nil)
	if err != nil {
		return err
	}
	meta, err := t.seal("invoices", "metadata", id, []byte("null"))
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, `UPDATE invoices SET customer_reference = ?, metadata = ? WHERE id = ?`, ref, meta, id)
	if err := t.mustAffect("redact invoice", res, err); err != nil {
		return fmt.Errorf("redact invoice %s: %w", id, err)
	}
	return nil
}
