package sqldb

import (
	"context"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// ListSweepCandidates reads invoices by primary key in id order (keyset
// paging) and joins each one's sweep row.
func (s *queries) ListSweepCandidates(ctx context.Context, network cryptopay.Network, since time.Time, afterID string, limit int) ([]storage.SweepCandidate, error) {
	rows, err := s.query(ctx, `SELECT i.id, COALESCE(w.swept_height, 0) FROM invoices i
		LEFT JOIN evm_sweeps w ON w.invoice_id = i.id
		WHERE i.network = ? AND i.monitor_until > ? AND i.id > ?
		ORDER BY i.id LIMIT ?`, string(network), micros(since), afterID, limit)
	if err != nil {
		return nil, s.wrap("list sweep candidates", err)
	}
	defer rows.Close()
	var out []storage.SweepCandidate
	for rows.Next() {
		var c storage.SweepCandidate
		if err := rows.Scan(&c.InvoiceID, &c.SweptHeight); err != nil {
			return nil, s.wrap("list sweep candidates", err)
		}
		out = append(out, c)
	}
	return out, s.wrap("list sweep candidates", rows.Err())
}

// RecordSweep upserts the invoice's sweep row, keeping the higher height.
func (t *Tx) RecordSweep(ctx context.Context, invoiceID string, height int64, txHash string, now time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO evm_sweeps (invoice_id, swept_height, tx_hash, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (invoice_id) DO UPDATE SET swept_height = excluded.swept_height, tx_hash = excluded.tx_hash,
			updated_at = excluded.updated_at
		WHERE evm_sweeps.swept_height < excluded.swept_height`,
		invoiceID, height, txHash, micros(now))
	return t.wrap("record sweep", err)
}
