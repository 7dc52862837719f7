package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

const invoiceCols = `id, store_id, livemode, order_id, amount, currency, network, asset, crypto_due,
	rate, address, address_index, status, flags, amount_paid, amount_confirmed,
	required_confirmations, customer_reference, metadata, redirect_url, created_at, expires_at,
	monitor_until, settled_at, amount_text, rate_sources, rate_at, rate_spread_bps`

// scanInvoice reads one invoice row, opening its sealed columns
// (customer_reference, metadata). A value that fails to open is an error
// wrapping the fieldcrypt error, never a garbled field.
func (s *queries) scanInvoice(row interface{ Scan(...any) error }) (*cryptopay.Invoice, error) {
	var r invoiceRow
	if err := row.Scan(r.dest()...); err != nil {
		return nil, err
	}
	inv := new(cryptopay.Invoice)
	if err := s.invoice(&r, inv); err != nil {
		return nil, err
	}
	return inv, nil
}

// GetInvoice returns the invoice with its payments ordered by seen_at (nil
// when it has none), or storage.ErrNotFound.
func (s *queries) GetInvoice(ctx context.Context, id string) (*cryptopay.Invoice, error) {
	return s.getInvoice(ctx, `id = ?`, id)
}

// GetInvoiceByOrderID returns the store's invoice for orderID, with its
// payments, or storage.ErrNotFound. An empty orderID matches nothing.
func (s *queries) GetInvoiceByOrderID(ctx context.Context, storeID, orderID string) (*cryptopay.Invoice, error) {
	return s.getInvoice(ctx, `store_id = ? AND order_id = ?`, storeID, orderID)
}

// GetInvoiceByAddress returns the invoice paid to address on network, with
// its payments, or storage.ErrNotFound.
func (s *queries) GetInvoiceByAddress(ctx context.Context, network cryptopay.Network, address string) (*cryptopay.Invoice, error) {
	return s.getInvoice(ctx, `network = ? AND address = ?`, string(network), address)
}

func (s *queries) getInvoice(ctx context.Context, where string, args ...any) (*cryptopay.Invoice, error) {
	var inv *cryptopay.Invoice
	err := s.snapshot(ctx, func(s *queries) error {
		var err error
		inv, err = s.scanInvoice(s.queryRow(ctx, `SELECT `+invoiceCols+` FROM invoices WHERE `+where, args...))
		if err != nil {
			return s.wrap("get invoice", err)
		}
		inv.Payments, err = s.payments(ctx, inv.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return inv, nil
}

const paymentCols = `id, invoice_id, tx_id, vout, amount, block_hash, block_height, confirmations, conflict_tx_id,
	rbf, from_address, status, seen_at, confirmed_at, asset, asset_decimals, released_at, released_by`

func (s *queries) payments(ctx context.Context, invoiceID string) ([]cryptopay.Payment, error) {
	rows, err := s.query(ctx, `SELECT `+paymentCols+` FROM payments WHERE invoice_id = ?
		ORDER BY seen_at, id`, invoiceID)
	if err != nil {
		return nil, s.wrap("get payments", err)
	}
	defer rows.Close()
	var out []cryptopay.Payment
	for rows.Next() {
		var (
			p         cryptopay.Payment
			vout      int64
			amount    string
			seen      int64
			confirmed sql.NullInt64
			decimals  int64
			released  sql.NullInt64
		)
		if err := rows.Scan(&p.ID, &p.InvoiceID, &p.TxID, &vout, &amount, &p.BlockHash, &p.BlockHeight,
			&p.Confirmations, &p.ConflictTxID, &p.RBF, &p.FromAddress, &p.Status, &seen, &confirmed,
			&p.Asset, &decimals, &released, &p.ReleasedBy); err != nil {
			return nil, s.wrap("get payments", err)
		}
		if p.Vout, err = toUint32(vout); err != nil {
			return nil, err
		}
		if p.Amount, err = parseAmount(amount); err != nil {
			return nil, err
		}
		p.SeenAt, p.ConfirmedAt, p.ReleasedAt = fromMicros(seen), fromNullMicros(confirmed), fromNullMicros(released)
		p.Decimals = int(decimals)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("get payments", err)
	}
	return out, nil
}

// CreateInvoice inserts an invoice (not its payments), sealing its
// customer reference and metadata with the DB's keyring. A second invoice
// with the same (store, order id) is a *storage.ConflictError on
// "invoices_store_order_key", detected with ON CONFLICT DO NOTHING so the
// transaction stays usable on PostgreSQL too; the same (network, address)
// twice is one on "invoices_network_address_key"; an unknown store wraps
// storage.ErrForeignKey. An empty OrderID is stored as NULL and never
// conflicts. Nil amounts are stored, and read back, as 0.
func (t *Tx) CreateInvoice(ctx context.Context, inv *cryptopay.Invoice) error {
	args, err := t.invoiceArgs(inv)
	if err != nil {
		return err
	}
	var id string
	if t.d.NotifyInvoiceInline != "" {
		// The insert announces the invoice itself (one round trip, not a
		// second statement before commit); no row, no announcement.
		payload, err := notePayload(inv)
		if err != nil {
			return fmt.Errorf("storage: create invoice: %w", err)
		}
		var void string
		err = t.queryRow(ctx, `WITH ins AS (`+insertInvoice+`) SELECT id, `+t.d.NotifyInvoiceInline+` FROM ins`,
			append(args, payload)...).Scan(&id, &void)
		if err == sql.ErrNoRows {
			return &storage.ConflictError{Constraint: "invoices_store_order_key"}
		}
		if err != nil {
			return t.wrap("create invoice", err)
		}
		t.claimFirstEvent(inv.ID)
		return nil
	}
	err = t.queryRow(ctx, insertInvoice, args...).Scan(&id)
	if err == sql.ErrNoRows {
		return &storage.ConflictError{Constraint: "invoices_store_order_key"}
	}
	if err != nil {
		return t.wrap("create invoice", err)
	}
	t.claimFirstEvent(inv.ID)
	return nil // no notifications on this engine (see Dialect.NotifyInvoiceInline)
}

// invoiceArgs are inv's values in invoiceCols order, its customer
// reference and metadata sealed with the DB's keyring.
func (s *queries) invoiceArgs(inv *cryptopay.Invoice) ([]any, error) {
	metaJSON, err := toJSON(inv.Metadata)
	if err != nil {
		return nil, fmt.Errorf("storage: create invoice: %w", err)
	}
	meta, err := s.seal("invoices", "metadata", inv.ID, []byte(metaJSON))
	if err != nil {
		return nil, err
	}
	ref, err := s.seal("invoices", "customer_reference", inv.ID, []byte(inv.CustomerReference))
	if err != nil {
		return nil, err
	}
	return []any{inv.ID, inv.StoreID, inv.Livemode, nullString(inv.OrderID), storage.BigText(inv.Amount),
		inv.Currency, string(inv.Network), inv.Asset, storage.BigText(inv.CryptoDue), inv.Rate,
		inv.Address, int64(inv.AddressIndex), string(inv.Status), int64(inv.Flags),
		storage.BigText(inv.AmountPaid), storage.BigText(inv.AmountConfirmed),
		inv.RequiredConfirmations, ref, meta, inv.RedirectURL,
		micros(inv.CreatedAt), micros(inv.ExpiresAt), micros(inv.MonitorUntil),
		nullMicros(inv.SettledAt), inv.AmountText,
		strings.Join(inv.RateSources, ","), nullMicros(inv.RateAt), inv.RateSpreadBasisPoints}, nil
}

// insertInvoice inserts one invoice, returning its id unless the store
// already has the order id. Its event_seq starts at 1: the number of its
// first event, claimed for CreateEvent in the same Tx (see claimFirstEvent).
const insertInvoice = `INSERT INTO invoices (` + invoiceCols + `, event_seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (store_id, order_id) DO NOTHING RETURNING id`

// UpdateInvoice writes Status, Flags, AmountPaid, AmountConfirmed,
// RequiredConfirmations and SettledAt, or returns storage.ErrNotFound.
func (t *Tx) UpdateInvoice(ctx context.Context, inv *cryptopay.Invoice) error {
	res, err := t.exec(ctx, `UPDATE invoices SET status = ?, flags = ?, amount_paid = ?,
		amount_confirmed = ?, required_confirmations = ?, settled_at = ? WHERE id = ?`,
		string(inv.Status), int64(inv.Flags), storage.BigText(inv.AmountPaid),
		storage.BigText(inv.AmountConfirmed), inv.RequiredConfirmations,
		nullMicros(inv.SettledAt), inv.ID)
	return t.mustAffect("update invoice", res, err)
}
