package sqldb

import (
	"context"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

const blockedCols = `id, network, address, reason, failures, blocked_at, blocked_by`

func scanBlocked(row interface{ Scan(...any) error }) (*storage.BlockedAddress, error) {
	var (
		b       storage.BlockedAddress
		network string
		at      int64
	)
	if err := row.Scan(&b.ID, &network, &b.Address, &b.Reason, &b.Failures, &at, &b.BlockedBy); err != nil {
		return nil, err
	}
	b.Network, b.BlockedAt = cryptopay.Network(network), fromMicros(at)
	return &b, nil
}

// GetBlockedAddress reads through blocked_addresses_pkey.
func (s *queries) GetBlockedAddress(ctx context.Context, network cryptopay.Network, address string) (*storage.BlockedAddress, error) {
	b, err := scanBlocked(s.queryRow(ctx, `SELECT `+blockedCols+` FROM blocked_addresses
		WHERE network = ? AND address = ?`, string(network), address))
	if err != nil {
		return nil, s.wrap("get blocked address", err)
	}
	return b, nil
}

// ListBlockedAddresses lists blocks newest first by id (ids are
// time-ordered); the table holds few rows, so no index beyond the id's.
func (s *queries) ListBlockedAddresses(ctx context.Context, f storage.BlockedAddressFilter) ([]storage.BlockedAddress, bool, error) {
	var q strings.Builder
	q.WriteString(`SELECT ` + blockedCols + ` FROM blocked_addresses WHERE 1 = 1`)
	var args []any
	if f.Networks != nil {
		if len(f.Networks) == 0 {
			return []storage.BlockedAddress{}, false, nil
		}
		q.WriteString(` AND network IN (?` + strings.Repeat(", ?", len(f.Networks)-1) + `)`)
		for _, n := range f.Networks {
			args = append(args, string(n))
		}
	}
	if f.StartingAfter != "" {
		q.WriteString(` AND id < ?`)
		args = append(args, f.StartingAfter)
	}
	limit := pageLimit(f.Page)
	q.WriteString(` ORDER BY id DESC LIMIT ?`)
	args = append(args, limit+1)
	rows, err := s.query(ctx, q.String(), args...)
	if err != nil {
		return nil, false, s.wrap("list blocked addresses", err)
	}
	defer rows.Close()
	out := []storage.BlockedAddress{}
	for rows.Next() {
		b, err := scanBlocked(rows)
		if err != nil {
			return nil, false, s.wrap("list blocked addresses", err)
		}
		out = append(out, *b)
	}
	if err := rows.Err(); err != nil {
		return nil, false, s.wrap("list blocked addresses", err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// CountAddressFailures reads through address_failures_window_idx.
func (s *queries) CountAddressFailures(ctx context.Context, network cryptopay.Network, address string, since time.Time) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM address_failures
		WHERE network = ? AND address = ? AND created_at >= ?`, string(network), address, micros(since)).Scan(&n)
	return n, s.wrap("count address failures", err)
}

// CountAddressInvoices reads payments through payments_from_idx and joins
// their invoices for the network (an address string names one network in
// practice, but the join keeps the count exact).
func (s *queries) CountAddressInvoices(ctx context.Context, network cryptopay.Network, address string, since time.Time) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(DISTINCT p.invoice_id) FROM payments p
		JOIN invoices i ON i.id = p.invoice_id
		WHERE p.from_address = ? AND p.seen_at >= ? AND i.network = ?`,
		address, micros(since), string(network)).Scan(&n)
	return n, s.wrap("count address invoices", err)
}

// RecordAddressFailure inserts f unless the same failure is recorded.
func (t *Tx) RecordAddressFailure(ctx context.Context, f *storage.AddressFailure) (bool, error) {
	res, err := t.exec(ctx, `INSERT INTO address_failures (network, address, payment_id, invoice_id, reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (network, address, payment_id, reason) DO NOTHING`,
		string(f.Network), f.Address, f.PaymentID, f.InvoiceID, f.Reason, micros(f.At))
	if err != nil {
		return false, t.wrap("record address failure", err)
	}
	n, err := res.RowsAffected()
	return n == 1, t.wrap("record address failure", err)
}

// BlockAddress inserts b. The conflict is detected with ON CONFLICT DO
// NOTHING rather than by the driver's error, so the transaction stays
// usable on PostgreSQL and SQLite needs no constraint-name mapping.
func (t *Tx) BlockAddress(ctx context.Context, b *storage.BlockedAddress) error {
	b.BlockedAt = b.BlockedAt.UTC().Truncate(time.Microsecond) // as stored
	res, err := t.exec(ctx, `INSERT INTO blocked_addresses (`+blockedCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (network, address) DO NOTHING`,
		b.ID, string(b.Network), b.Address, b.Reason, b.Failures, micros(b.BlockedAt), b.BlockedBy)
	if err != nil {
		return t.wrap("block address", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return t.wrap("block address", err)
	}
	if n == 0 {
		return &storage.ConflictError{Constraint: "blocked_addresses_pkey"}
	}
	return nil
}

// UnblockAddress deletes the block and the address's failures.
func (t *Tx) UnblockAddress(ctx context.Context, network cryptopay.Network, address string) error {
	res, err := t.exec(ctx, `DELETE FROM blocked_addresses WHERE network = ? AND address = ?`, string(network), address)
	if err := t.mustAffect("unblock address", res, err); err != nil {
		return err
	}
	_, err = t.exec(ctx, `DELETE FROM address_failures WHERE network = ? AND address = ?`, string(network), address)
	return t.wrap("unblock address: failures", err)
}

// ForgetPaymentFailures reads through address_failures_pkey (network,
// address, payment_id, reason).
func (t *Tx) ForgetPaymentFailures(ctx context.Context, network cryptopay.Network, address, paymentID string) error {
	_, err := t.exec(ctx, `DELETE FROM address_failures WHERE network = ? AND address = ? AND payment_id = ?`,
		string(network), address, paymentID)
	return t.wrap("forget payment failures", err)
}

// DeleteAddressFailures reads through address_failures_created_idx.
func (t *Tx) DeleteAddressFailures(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := t.exec(ctx, `DELETE FROM address_failures WHERE created_at < ?`, micros(cutoff))
	if err != nil {
		return 0, t.wrap("delete address failures", err)
	}
	n, err := res.RowsAffected()
	return n, t.wrap("delete address failures", err)
}
