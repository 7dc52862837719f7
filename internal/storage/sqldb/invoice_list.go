package sqldb

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"

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
// Limit+1 invoices by walking one index backwards from the cursor (a page
// costs the same at any depth and table size, there is no OFFSET and no
// COUNT) and is joined to their payments through payments_invoice_idx,
// in the walk's order (the rows of one invoice are adjacent).
// Which index serves which filter is in invoiceListQuery; the conformance
// suite's plan test holds both engines to it.
//
// Outside a transaction, on an engine with Dialect.QueryText
// (PostgreSQL), the rows are decoded from the columns' text as the
// engine sent them (listInvoicesText).
func (s *queries) ListInvoices(ctx context.Context, f storage.InvoiceFilter) ([]cryptopay.Invoice, bool, error) {
	query, args, limit := invoiceListQuery(f)
	if pool := s.readPool(ctx); pool != nil && s.d.QueryText != nil {
		return s.listInvoicesText(ctx, pool, query, args, limit)
	}
	return s.listInvoices(limit, func() (*sql.Rows, error) { return s.query(ctx, query, args...) })
}

// ListInvoices is queries.ListInvoices outside a transaction. On an engine
// whose driver prepares every statement anew (Dialect.PrepareWrites:
// SQLite, where parsing and planning the 42-column join took a tenth of a
// list's CPU) it runs the statement prepared once on the reader pool.
func (db *DB) ListInvoices(ctx context.Context, f storage.InvoiceFilter) ([]cryptopay.Invoice, bool, error) {
	if !db.d.PrepareWrites || db.readPool(ctx) != db.reader {
		return db.queries.ListInvoices(ctx, f)
	}
	query, args, limit := invoiceListQuery(f)
	st := db.listStmts.get(ctx, db.reader, db.rebind(query))
	if st == nil {
		return db.queries.ListInvoices(ctx, f)
	}
	db.crypt.refreshOn(ctx, db.reader)
	return db.listInvoices(limit, func() (*sql.Rows, error) { return st.QueryContext(ctx, args...) })
}

// readStmts holds statements prepared on a pool by query text, at most
// maxReadStmts of them (ListInvoices has a few dozen shapes; the rest run
// unprepared). The zero value is ready.
type readStmts struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

const maxReadStmts = 64

// get returns query prepared on pool, preparing it the first time; nil if
// the cache is full or preparing fails (the caller runs it unprepared and
// sees the error there).
func (r *readStmts) get(ctx context.Context, pool *sql.DB, query string) *sql.Stmt {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st := r.stmts[query]; st != nil {
		return st
	}
	if len(r.stmts) >= maxReadStmts {
		return nil
	}
	st, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if r.stmts == nil {
		r.stmts = map[string]*sql.Stmt{}
	}
	r.stmts[query] = st
	return st
}

// listInvoices reads the rows run returns into at most limit invoices
// with their payments, and whether more follow.
func (s *queries) listInvoices(limit int, run func() (*sql.Rows, error)) ([]cryptopay.Invoice, bool, error) {
	rows, err := run()
	if err != nil {
		return nil, false, s.wrap("list invoices", err)
	}
	defer rows.Close()
	// One set of destinations for every row: the joined rows of one
	// invoice repeat its columns, decoded (amounts parsed, sealed fields
	// opened) only on its first row.
	var r invoiceRow
	var p nullPayment
	dest := append(r.dest(), p.dest()...)
	pg := invoicePage{s: s, out: make([]cryptopay.Invoice, 0, min(limit+1, 1024))}
	for rows.Next() {
		p = nullPayment{}
		if err := rows.Scan(dest...); err != nil {
			return nil, false, s.wrap("list invoices", err)
		}
		if err := pg.add(&r, &p); err != nil {
			return nil, false, s.wrap("list invoices", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, false, s.wrap("list invoices", err)
	}
	out, more := pg.page(limit)
	return out, more, nil
}

// listInvoicesText is listInvoices through Dialect.QueryText on one of
// pool's connections: each row's columns are decoded from their text
// straight into the invoice row, and an invoice's columns only on its
// first joined row. The values read are the ones database/sql's scan
// would have produced (textCols), so the page is the same.
func (s *queries) listInvoicesText(ctx context.Context, pool *sql.DB, query string, args []any, limit int) ([]cryptopay.Invoice, bool, error) {
	s.crypt.refreshOn(ctx, pool)
	ctx = s.ctx(ctx)
	conn, err := pool.Conn(ctx)
	if err != nil {
		return nil, false, s.wrap("list invoices", err)
	}
	defer conn.Close()
	var r invoiceRow
	var p nullPayment
	var t, tp textCols // the invoice's columns, the payment's
	pg := invoicePage{s: s, out: make([]cryptopay.Invoice, 0, min(limit+1, 1024))}
	err = s.d.QueryText(ctx, conn, s.rebind(query), args, func(cols [][]byte) error {
		if len(cols) != invoiceColCount+paymentColCount {
			return fmt.Errorf("%d columns, want %d", len(cols), invoiceColCount+paymentColCount)
		}
		t.cols = cols
		if n := len(pg.out); n == 0 || pg.out[n-1].ID != string(cols[0]) {
			if err := r.fromText(&t); err != nil {
				return err
			}
			if err := pg.invoice(&r); err != nil {
				return err
			}
		}
		tp.cols = cols[invoiceColCount:]
		if tp.cols[0] == nil { // an invoice without payments
			return nil
		}
		if err := p.fromText(&tp); err != nil {
			return err
		}
		return pg.payment(&p)
	})
	if err != nil {
		return nil, false, s.wrap("list invoices", err)
	}
	out, more := pg.page(limit)
	return out, more, nil
}

// invoicePage gathers a list's joined rows (an invoice's columns, then a
// payment's or NULLs) into invoices with their payments.
type invoicePage struct {
	s   *queries
	out []cryptopay.Invoice
}

// add takes one joined row: r starts a new invoice unless it is the last
// one's, and p, unless NULL, is one of its payments.
func (pg *invoicePage) add(r *invoiceRow, p *nullPayment) error {
	if n := len(pg.out); n == 0 || pg.out[n-1].ID != r.id {
		if err := pg.invoice(r); err != nil {
			return err
		}
	}
	if !p.id.Valid { // nil for an invoice without payments
		return nil
	}
	return pg.payment(p)
}

// invoice appends the invoice r holds.
func (pg *invoicePage) invoice(r *invoiceRow) error {
	pg.out = append(pg.out, cryptopay.Invoice{})
	return pg.s.invoice(r, &pg.out[len(pg.out)-1])
}

// payment appends p to the last invoice's payments.
func (pg *invoicePage) payment(p *nullPayment) error {
	if len(pg.out) == 0 {
		return errCorrupt
	}
	pay, err := p.payment()
	if err != nil {
		return err
	}
	last := &pg.out[len(pg.out)-1]
	last.Payments = append(last.Payments, pay)
	return nil
}

// page returns at most limit invoices, and whether more follow. Each
// invoice's payments are in GetInvoice's order: sorting them here rather
// than in SQL lets the engines return the page in the order its index
// walk produced, with no sort of the joined rows.
func (pg *invoicePage) page(limit int) ([]cryptopay.Invoice, bool) {
	out := pg.out
	for i := range out {
		if len(out[i].Payments) > 1 {
			slices.SortFunc(out[i].Payments, func(a, b cryptopay.Payment) int {
				return cmp.Or(a.SeenAt.Compare(b.SeenAt), strings.Compare(a.ID, b.ID))
			})
		}
	}
	if len(out) > limit {
		return out[:limit], true
	}
	return out, false
}

// invoiceListQuery returns ListInvoices' statement, its arguments and the
// page's limit. Every shape walks an index led by (store_id, livemode) in
// id order, so LIMIT stops the walk after one page:
//
//   - no filter, or a creation-time range and the cursor (both are ranges
//     of ids): invoices_list_idx (store_id, livemode, id DESC);
//   - status: invoices_status_idx (store_id, livemode, status, id DESC);
//   - order id: invoices_store_order_key (store_id, order_id), one row;
//   - flag: invoices_flagged_idx (store_id, livemode, id DESC) WHERE
//     flags <> 0, holding only flagged invoices (few), so the walk skips
//     the unflagged ones; the literal "flags <> 0" lets both planners see
//     that the partial index applies;
//   - price: invoices_price_idx (store_id, livemode, amount, id DESC), one
//     walk per distinct amount (a decimal price is a different number of
//     base units per number of decimals), merged: the union of the walks'
//     pages ordered by id holds the page.
//
// Other filters in the same query are checked on the rows the walk
// visits.
func invoiceListQuery(f storage.InvoiceFilter) (string, []any, int) {
	limit := pageLimit(f.Page)
	var w strings.Builder
	w.WriteString(`store_id = ? AND livemode = ?`)
	args := []any{f.StoreID, f.Livemode}
	switch {
	case f.Status != "" && f.Flag != 0:
		// Flagged invoices are few and a status is common: walk the
		// flagged index and check the status on its rows. "status || ''"
		// keeps SQLite, which plans without statistics, from preferring
		// invoices_status_idx for its extra equality column.
		w.WriteString(` AND status || '' = ?`)
		args = append(args, string(f.Status))
	case f.Status != "":
		w.WriteString(` AND status = ?`)
		args = append(args, string(f.Status))
	}
	if f.OrderID != "" {
		w.WriteString(` AND order_id = ?`)
		args = append(args, f.OrderID)
	}
	if f.Flag != 0 {
		w.WriteString(` AND flags <> 0 AND (flags & ?) = ?`)
		args = append(args, int64(f.Flag), int64(f.Flag))
	}
	if !f.CreatedFrom.IsZero() {
		w.WriteString(` AND id >= ?`)
		args = append(args, cryptopay.FirstIDAt(cryptopay.PrefixInvoice, f.CreatedFrom))
	}
	if !f.CreatedBefore.IsZero() {
		w.WriteString(` AND id < ?`)
		args = append(args, cryptopay.FirstIDAt(cryptopay.PrefixInvoice, f.CreatedBefore))
	}
	if f.StartingAfter != "" {
		w.WriteString(` AND id < ?`)
		args = append(args, f.StartingAfter)
	}
	var q strings.Builder
	q.WriteString(`WITH page AS (`)
	if len(f.Prices) == 0 {
		q.WriteString(`SELECT ` + invoiceCols + ` FROM invoices WHERE ` + w.String() + ` ORDER BY id DESC LIMIT ?`)
		args = append(args, limit+1)
	} else {
		common := slices.Clone(args)
		args = args[:0:0]
		for i, p := range f.Prices {
			if i > 0 {
				q.WriteString(` UNION ALL `)
			}
			fmt.Fprintf(&q, `SELECT * FROM (SELECT `+invoiceCols+` FROM invoices WHERE `+w.String()+
				` AND amount = ? AND currency IN (%s) ORDER BY id DESC LIMIT ?) b%d`,
				strings.TrimSuffix(strings.Repeat("?, ", len(p.Currencies)), ", "), i)
			args = append(args, common...)
			args = append(args, storage.BigText(p.Amount))
			for _, c := range p.Currencies {
				args = append(args, c)
			}
			args = append(args, limit+1)
		}
		q.WriteString(` ORDER BY id DESC LIMIT ?`)
		args = append(args, limit+1)
	}
	q.WriteString(`)
		SELECT ` + pageInvoiceCols + `, ` + joinedPaymentCols + ` FROM page
		LEFT JOIN payments p ON p.invoice_id = page.id
		ORDER BY page.id DESC`)
	return q.String(), args, limit
}

// ExplainListInvoices returns the engine's plan for ListInvoices with f,
// one line per plan node, indented by depth: EXPLAIN on PostgreSQL (its
// own layout; with analyze, EXPLAIN ANALYZE, which runs the query and
// adds actual rows and times), EXPLAIN QUERY PLAN on SQLite (two spaces a
// level; analyze changes nothing), so tests and operators can see which
// indexes a list walks.
func (db *DB) ExplainListInvoices(ctx context.Context, f storage.InvoiceFilter, analyze bool) ([]string, error) {
	query, args, _ := invoiceListQuery(f)
	s := &db.queries
	postgres := db.d.DollarPlaceholders
	prefix := `EXPLAIN QUERY PLAN `
	switch {
	case postgres && analyze:
		prefix = `EXPLAIN (ANALYZE, BUFFERS) `
	case postgres:
		prefix = `EXPLAIN `
	}
	rows, err := s.query(ctx, prefix+query, args...)
	if err != nil {
		return nil, s.wrap("explain list invoices", err)
	}
	defer rows.Close()
	var out []string
	depth := map[int64]int{} // SQLite: node id → depth
	for rows.Next() {
		var line string
		if postgres {
			if err := rows.Scan(&line); err != nil {
				return nil, s.wrap("explain list invoices", err)
			}
			out = append(out, line)
			continue
		}
		var id, parent, unused int64
		if err := rows.Scan(&id, &parent, &unused, &line); err != nil {
			return nil, s.wrap("explain list invoices", err)
		}
		d := 0
		if parent != 0 {
			d = depth[parent] + 1
		}
		depth[id] = d
		out = append(out, strings.Repeat("  ", d)+line)
	}
	return out, s.wrap("explain list invoices", rows.Err())
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

// nullPayment holds the payment columns of a LEFT JOIN row: all NULL for
// an invoice without payments.
type nullPayment struct {
	id, invoiceID, txID, amount, blockHash, conflict, from, status, asset sql.NullString
	releasedBy                                                            sql.NullString
	vout, height, confirmations, seen, confirmed, decimals, released      sql.NullInt64
	rbf                                                                   sql.NullBool
}

func (p *nullPayment) dest() []any {
	return []any{&p.id, &p.invoiceID, &p.txID, &p.vout, &p.amount, &p.blockHash, &p.height,
		&p.confirmations, &p.conflict, &p.rbf, &p.from, &p.status, &p.seen, &p.confirmed, &p.asset, &p.decimals,
		&p.released, &p.releasedBy}
}

func (p *nullPayment) payment() (cryptopay.Payment, error) {
	out := cryptopay.Payment{ID: p.id.String, InvoiceID: p.invoiceID.String, TxID: p.txID.String,
		BlockHash: p.blockHash.String, BlockHeight: p.height.Int64, Confirmations: p.confirmations.Int64,
		ConflictTxID: p.conflict.String, RBF: p.rbf.Bool, FromAddress: p.from.String,
		Status: cryptopay.PaymentStatus(p.status.String), SeenAt: fromMicros(p.seen.Int64),
		ConfirmedAt: fromNullMicros(p.confirmed), Asset: p.asset.String, Decimals: int(p.decimals.Int64),
		ReleasedAt: fromNullMicros(p.released), ReleasedBy: p.releasedBy.String}
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
