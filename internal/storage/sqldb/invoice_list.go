package sqldb

import (
	"context"
	"database/sql"
	"strings"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// defaultLimit applies when a Page has no positive Limit. The storage
// layer imposes no maximum; the API does.
const defaultLimit = 100

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
	vout, height, confirmations, seen, confirmed                   sql.NullInt64
	rbf                                                            sql.NullBool
}

func (p *nullPayment) dest() []any {
	return []any{&p.id, &p.invoiceID, &p.txID, &p.vout, &p.amount, &p.blockHash, &p.height,
		&p.confirmations, &p.conflict, &p.rbf, &p.from, &p.status, &p.seen, &p.confirmed}
}

func (p *nullPayment) payment() (cryptopay.Payment, error) {
	out := cryptopay.Payment{ID: p.id.String, InvoiceID: p.invoiceID.String, TxID: p.txID.String,
		BlockHash: p.blockHash.String, BlockHeight: p.height.Int64, Confirmations: p.confirmations.Int64,
		ConflictTxID: p.conflict.String, RBF: p.rbf.Bool, FromAddress: p.from.String,
		Status: cryptopay.PaymentStatus(p.status.String), SeenAt: fromMicros(p.seen.Int64),
		ConfirmedAt: fromNullMicros(p.confirmed)}
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
