package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// GetChainState returns the network's state or storage.ErrNotFound.
func (s *queries) GetChainState(ctx context.Context, network cryptopay.Network) (*storage.ChainState, error) {
	var (
		st      storage.ChainState
		updated int64
	)
	err := s.queryRow(ctx, `SELECT network, height, hash, snapshot, updated_at FROM chain_state WHERE network = ?`,
		string(network)).Scan(&st.Network, &st.Height, &st.Hash, &st.Snapshot, &updated)
	if err != nil {
		return nil, s.wrap("get chain state", err)
	}
	st.UpdatedAt = fromMicros(updated)
	return &st, nil
}

// ListWatchedAddresses reads through the index on (network, seq) and
// filters on monitor_until; the Dialect names the sequence column.
//
// A scan from the start begins at the oldest invoice still watched, found
// through invoices_watch_idx (network, monitor_until), so a periodic full
// rescan reads about a monitoring window's worth of invoices, not every
// invoice ever made.
func (s *queries) ListWatchedAddresses(ctx context.Context, network cryptopay.Network, now time.Time, afterSeq int64, limit int) ([]storage.WatchedAddress, error) {
	seq := s.d.InvoiceSeq
	if afterSeq == 0 {
		var oldest sql.NullInt64
		err := s.queryRow(ctx, `SELECT MIN(`+seq+`) FROM invoices WHERE network = ? AND monitor_until > ?`,
			string(network), micros(now)).Scan(&oldest)
		if err != nil {
			return nil, s.wrap("list watched addresses", err)
		}
		if !oldest.Valid {
			return nil, nil
		}
		afterSeq = oldest.Int64 - 1
	}
	rows, err := s.query(ctx, `SELECT id, address, monitor_until, `+seq+` FROM invoices
		WHERE network = ? AND `+seq+` > ? AND monitor_until > ?
		ORDER BY `+seq+` LIMIT ?`, string(network), afterSeq, micros(now), limit)
	if err != nil {
		return nil, s.wrap("list watched addresses", err)
	}
	defer rows.Close()
	var out []storage.WatchedAddress
	for rows.Next() {
		var (
			w     storage.WatchedAddress
			until int64
		)
		if err := rows.Scan(&w.InvoiceID, &w.Address, &until, &w.Seq); err != nil {
			return nil, s.wrap("list watched addresses", err)
		}
		w.Network = network
		w.MonitorUntil = fromMicros(until)
		out = append(out, w)
	}
	return out, s.wrap("list watched addresses", rows.Err())
}

// ListInvoicesDue reads through invoices_due_idx (status, expires_at) and
// invoices_watch_idx.
func (s *queries) ListInvoicesDue(ctx context.Context, networks []cryptopay.Network, now time.Time, limit int) ([]string, error) {
	if len(networks) == 0 {
		return nil, nil
	}
	in := "?" + strings.Repeat(", ?", len(networks)-1)
	var nets []any
	for _, n := range networks {
		nets = append(nets, string(n))
	}
	args := append(append(append([]any{micros(now)}, nets...), micros(now)), nets...)
	args = append(args, limit)
	rows, err := s.query(ctx, `SELECT id FROM invoices WHERE status = 'new' AND expires_at <= ? AND network IN (`+in+`)
		UNION ALL
		SELECT id FROM invoices WHERE status = 'processing' AND monitor_until <= ? AND network IN (`+in+`)
		LIMIT ?`, args...)
	if err != nil {
		return nil, s.wrap("list invoices due", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, s.wrap("list invoices due", err)
		}
		out = append(out, id)
	}
	return out, s.wrap("list invoices due", rows.Err())
}

// PutChainState upserts the network's row.
func (t *Tx) PutChainState(ctx context.Context, st *storage.ChainState) error {
	_, err := t.exec(ctx, `INSERT INTO chain_state (network, height, hash, snapshot, updated_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (network) DO UPDATE SET height = excluded.height, hash = excluded.hash,
			snapshot = excluded.snapshot, updated_at = excluded.updated_at`,
		string(st.Network), st.Height, st.Hash, st.Snapshot, micros(st.UpdatedAt))
	return t.wrap("put chain state", err)
}

// LockInvoice takes the invoice's row lock with a no-op update before
// reading it: on PostgreSQL the update holds the row until the transaction
// ends (the same effect as SELECT ... FOR UPDATE, in SQL both engines
// accept); on SQLite the single writer already excludes other writers.
func (t *Tx) LockInvoice(ctx context.Context, id string) (*cryptopay.Invoice, error) {
	res, err := t.exec(ctx, `UPDATE invoices SET status = status WHERE id = ?`, id)
	if err := t.mustAffect("lock invoice", res, err); err != nil {
		return nil, err
	}
	return t.GetInvoice(ctx, id)
}

// CreatePayment inserts p, with its asset and decimals as given (the
// watcher sets both; "" and 0 read back as the invoice's, see
// cryptopay.Payment.Unit).
func (t *Tx) CreatePayment(ctx context.Context, p *cryptopay.Payment) error {
	_, err := t.exec(ctx, `INSERT INTO payments (`+paymentCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.InvoiceID, p.TxID, int64(p.Vout), storage.BigText(p.Amount), p.BlockHash, p.BlockHeight,
		p.Confirmations, p.ConflictTxID, p.RBF, p.FromAddress, string(p.Status), micros(p.SeenAt), nullMicros(p.ConfirmedAt),
		p.Asset, int64(p.Decimals), nullMicros(p.ReleasedAt), p.ReleasedBy)
	return t.wrap("create payment", err)
}

// UpdatePayment writes the fields the chain changes.
func (t *Tx) UpdatePayment(ctx context.Context, p *cryptopay.Payment) error {
	res, err := t.exec(ctx, `UPDATE payments SET block_hash = ?, block_height = ?, confirmations = ?,
		conflict_tx_id = ?, status = ?, confirmed_at = ? WHERE id = ?`,
		p.BlockHash, p.BlockHeight, p.Confirmations, p.ConflictTxID, string(p.Status), nullMicros(p.ConfirmedAt), p.ID)
	return t.mustAffect("update payment", res, err)
}

// ReleasePayment writes an operator's release of a held payment: its new
// status, confirmed_at, released_at and released_by, only while the row is
// still held, so a release that raced another writer changes nothing.
func (t *Tx) ReleasePayment(ctx context.Context, p *cryptopay.Payment) error {
	if p.ReleasedAt == nil || p.ReleasedBy == "" {
		return fmt.Errorf("storage: release payment %s: released_at and released_by are required", p.ID)
	}
	res, err := t.exec(ctx, `UPDATE payments SET status = ?, confirmed_at = ?, released_at = ?, released_by = ?
		WHERE id = ? AND invoice_id = ? AND status = ?`,
		string(p.Status), nullMicros(p.ConfirmedAt), nullMicros(p.ReleasedAt), p.ReleasedBy, p.ID, p.InvoiceID,
		string(cryptopay.PaymentHeld))
	return t.mustAffect("release payment", res, err)
}
