package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// defaultLimit applies when a Page has no positive Limit. The storage
// layer imposes no maximum; the API does.
const defaultLimit = 100

const invoiceCols = `id, store_id, livemode, order_id, amount, currency, network, asset, crypto_due,
	rate, address, address_index, status, flags, amount_paid, amount_confirmed,
	required_confirmations, customer_reference, metadata, redirect_url, created_at, expires_at,
	monitor_until, settled_at, amount_text, rate_sources, rate_at, rate_spread_bps`

// scanInvoice reads one invoice row, opening its sealed columns
// (customer_reference, metadata). A value that fails to open is an error
// wrapping the fieldcrypt error, never a garbled field.
func (s *queries) scanInvoice(row interface{ Scan(...any) error }) (*cryptopay.Invoice, error) {
	var (
		inv                                cryptopay.Invoice
		orderID                            sql.NullString
		amount, due, paid, confirmed, meta string
		ref                                string
		index                              int64
		flags                              int64
		created, expires, monitor          int64
		settled                            sql.NullInt64
		rateSources                        string
		rateAt                             sql.NullInt64
	)
	if err := row.Scan(&inv.ID, &inv.StoreID, &inv.Livemode, &orderID, &amount, &inv.Currency,
		&inv.Network, &inv.Asset, &due, &inv.Rate, &inv.Address, &index, &inv.Status, &flags,
		&paid, &confirmed, &inv.RequiredConfirmations, &ref, &meta,
		&inv.RedirectURL, &created, &expires, &monitor, &settled, &inv.AmountText,
		&rateSources, &rateAt, &inv.RateSpreadBasisPoints); err != nil {
		return nil, err
	}
	if rateSources != "" {
		inv.RateSources = strings.Split(rateSources, ",")
	}
	if rateAt.Valid {
		t := fromMicros(rateAt.Int64)
		inv.RateAt = &t
	}
	inv.OrderID = orderID.String
	var err error
	if inv.Amount, err = parseAmount(amount); err != nil {
		return nil, err
	}
	if inv.CryptoDue, err = parseAmount(due); err != nil {
		return nil, err
	}
	if inv.AmountPaid, err = parseAmount(paid); err != nil {
		return nil, err
	}
	if inv.AmountConfirmed, err = parseAmount(confirmed); err != nil {
		return nil, err
	}
	if inv.AddressIndex, err = toUint32(index); err != nil {
		return nil, err
	}
	if flags < 0 || flags > 0xffff {
		return nil, errCorrupt
	}
	inv.Flags = cryptopay.Flag(flags)
	plainRef, err := s.open("invoices", "customer_reference", inv.ID, ref)
	if err != nil {
		return nil, err
	}
	inv.CustomerReference = string(plainRef)
	plainMeta, err := s.open("invoices", "metadata", inv.ID, meta)
	if err != nil {
		return nil, err
	}
	if err := fromJSON(string(plainMeta), &inv.Metadata); err != nil {
		return nil, err
	}
	inv.CreatedAt, inv.ExpiresAt, inv.MonitorUntil = fromMicros(created), fromMicros(expires), fromMicros(monitor)
	inv.SettledAt = fromNullMicros(settled)
	return &inv, nil
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
	rbf, from_address, status, seen_at, confirmed_at, released_at, released_by`

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
			released  sql.NullInt64
		)
		if err := rows.Scan(&p.ID, &p.InvoiceID, &p.TxID, &vout, &amount, &p.BlockHash, &p.BlockHeight,
			&p.Confirmations, &p.ConflictTxID, &p.RBF, &p.FromAddress, &p.Status, &seen, &confirmed,
			&released, &p.ReleasedBy); err != nil {
			return nil, s.wrap("get payments", err)
		}
		if p.Vout, err = toUint32(vout); err != nil {
			return nil, err
		}
		if p.Amount, err = parseAmount(amount); err != nil {
			return nil, err
		}
		p.SeenAt, p.ConfirmedAt, p.ReleasedAt = fromMicros(seen), fromNullMicros(confirmed), fromNullMicros(released)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("get payments", err)
	}
	return out, nil
}

// ListInvoices returns the filter's invoices newest first, each with its
// payments as GetInvoice reads them, and whether more follow. One
// statement does it, so the page and its payments come from one snapshot
// in one round trip, never a query per invoice: a CTE takes at most
// Limit+1 invoices through the (store_id, livemode[, status], id DESC)
// indexes (a page costs the same at any depth) and is joined to their
// payments through payments_invoice_idx.
func (s *queries) ListInvoices(ctx context.Context, f storage.InvoiceFilter) ([]cryptopay.Invoice, bool, error) {
	var q strings.Builder
	q.WriteString(`WITH page AS (SELECT ` + invoiceCols + ` FROM invoices WHERE store_id = ? AND livemode = ?`)
	args := []any{f.StoreID, f.Livemode}
	if f.Status != "" {
		q.WriteString(` AND status = ?`)
		args = append(args, string(f.Status))
	}
	if f.OrderID != "" {
		q.WriteString(` AND order_id = ?`)
		args = append(args, f.OrderID)
	}
	if f.StartingAfter != "" {
		q.WriteString(` AND id < ?`)
		args = append(args, f.StartingAfter)
	}
	limit := pageLimit(f.Page)
	q.WriteString(` ORDER BY id DESC LIMIT ?)
		SELECT ` + pageInvoiceCols + `, ` + joinedPaymentCols + ` FROM page
		LEFT JOIN payments p ON p.invoice_id = page.id
		ORDER BY page.id DESC, p.seen_at, p.id`)
	args = append(args, limit+1)

	rows, err := s.query(ctx, q.String(), args...)
	if err != nil {
		return nil, false, s.wrap("list invoices", err)
	}
	defer rows.Close()
	var out []cryptopay.Invoice
	for rows.Next() {
		var p nullPayment
		row := withExtra{rows, p.dest()}
		inv, err := s.scanInvoice(row)
		if err != nil {
			return nil, false, s.wrap("list invoices", err)
		}
		if n := len(out); n == 0 || out[n-1].ID != inv.ID {
			out = append(out, *inv)
		}
		if p.id.Valid { // nil for an invoice without payments
			pay, err := p.payment()
			if err != nil {
				return nil, false, s.wrap("list invoices", err)
			}
			last := &out[len(out)-1]
			last.Payments = append(last.Payments, pay)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, false, s.wrap("list invoices", err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// pageInvoiceCols and joinedPaymentCols are invoiceCols and paymentCols
// qualified by their table in ListInvoices' join (both have an id).
var (
	pageInvoiceCols   = qualify("page", invoiceCols)
	joinedPaymentCols = qualify("p", paymentCols)
)

func qualify(table, cols string) string {
	fields := strings.Split(cols, ",")
	for i, c := range fields {
		fields[i] = table + "." + strings.TrimSpace(c)
	}
	return strings.Join(fields, ", ")
}

// withExtra scans a row's leading columns into the caller's destinations
// and the rest into extra, so scanInvoice reads the invoice part of a
// joined row.
type withExtra struct {
	rows  *sql.Rows
	extra []any
}

func (w withExtra) Scan(dest ...any) error { return w.rows.Scan(append(dest, w.extra...)...) }

// nullPayment holds the payment columns of a LEFT JOIN row: all NULL for
// an invoice without payments.
type nullPayment struct {
	id, invoiceID, txID, amount, blockHash, conflict, from, status sql.NullString
	releasedBy                                                     sql.NullString
	vout, height, confirmations, seen, confirmed, released         sql.NullInt64
	rbf                                                            sql.NullBool
}

func (p *nullPayment) dest() []any {
	return []any{&p.id, &p.invoiceID, &p.txID, &p.vout, &p.amount, &p.blockHash, &p.height,
		&p.confirmations, &p.conflict, &p.rbf, &p.from, &p.status, &p.seen, &p.confirmed, &p.released, &p.releasedBy}
}

func (p *nullPayment) payment() (cryptopay.Payment, error) {
	out := cryptopay.Payment{ID: p.id.String, InvoiceID: p.invoiceID.String, TxID: p.txID.String,
		BlockHash: p.blockHash.String, BlockHeight: p.height.Int64, Confirmations: p.confirmations.Int64,
		ConflictTxID: p.conflict.String, RBF: p.rbf.Bool, FromAddress: p.from.String,
		Status: cryptopay.PaymentStatus(p.status.String), SeenAt: fromMicros(p.seen.Int64),
		ConfirmedAt: fromNullMicros(p.confirmed), ReleasedAt: fromNullMicros(p.released), ReleasedBy: p.releasedBy.String}
	var err error
	if out.Vout, err = toUint32(p.vout.Int64); err != nil {
		return out, err
	}
	out.Amount, err = parseAmount(p.amount.String)
	return out, err
}

// listPage runs one page of a list ordered by id, newest first. query is a
// SELECT whose WHERE clause the caller has begun, args its arguments;
// listPage adds the keyset condition (ids below p.StartingAfter, so a page
// costs the same at any depth), the order and a limit one above the page's:
// the extra row, dropped, tells whether more follow. scan reads one row.
// Errors are wrapped with op.
func listPage[T any](ctx context.Context, s *queries, op, query string, args []any, p storage.Page,
	scan func(*sql.Rows) (T, error)) ([]T, bool, error) {
	limit := pageLimit(p)
	if p.StartingAfter != "" {
		query += ` AND id < ?`
		args = append(args, p.StartingAfter)
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit+1)

	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, false, s.wrap(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, false, s.wrap(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, false, s.wrap(op, err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

func pageLimit(p storage.Page) int {
	if p.Limit <= 0 {
		return defaultLimit
	}
	return p.Limit
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
	metaJSON, err := toJSON(inv.Metadata)
	if err != nil {
		return fmt.Errorf("storage: create invoice: %w", err)
	}
	meta, err := t.seal("invoices", "metadata", inv.ID, []byte(metaJSON))
	if err != nil {
		return err
	}
	ref, err := t.seal("invoices", "customer_reference", inv.ID, []byte(inv.CustomerReference))
	if err != nil {
		return err
	}
	var id string
	err = t.queryRow(ctx, `INSERT INTO invoices (`+invoiceCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (store_id, order_id) DO NOTHING RETURNING id`,
		inv.ID, inv.StoreID, inv.Livemode, nullString(inv.OrderID), storage.BigText(inv.Amount),
		inv.Currency, string(inv.Network), inv.Asset, storage.BigText(inv.CryptoDue), inv.Rate,
		inv.Address, int64(inv.AddressIndex), string(inv.Status), int64(inv.Flags),
		storage.BigText(inv.AmountPaid), storage.BigText(inv.AmountConfirmed),
		inv.RequiredConfirmations, ref, meta, inv.RedirectURL,
		micros(inv.CreatedAt), micros(inv.ExpiresAt), micros(inv.MonitorUntil),
		nullMicros(inv.SettledAt), inv.AmountText,
		strings.Join(inv.RateSources, ","), nullMicros(inv.RateAt), inv.RateSpreadBasisPoints).Scan(&id)
	if err == sql.ErrNoRows {
		return &storage.ConflictError{Constraint: "invoices_store_order_key"}
	}
	if err != nil {
		return t.wrap("create invoice", err)
	}
	return t.notifyInvoice(ctx, inv)
}

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
