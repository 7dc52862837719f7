package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Batched invoice creation (storage.InvoiceCreator). Creating an invoice
// is the API's hot write: the invoice, its invoice.created event and that
// event's deliveries. Written through an InTx callback, each costs its own
// statements, and inside a group-committed batch also a savepoint, one
// round trip each. Here the group committer takes the new invoices queued
// together and writes them as rows of a few multi-row statements:
//
//   - PostgreSQL: one statement in all (its own transaction, so one
//     round trip and one commit for the batch): the rows travel as arrays
//     unnested into the inserts; data-modifying CTEs insert the events and
//     deliveries of exactly the invoices inserted, and pg_notify announces
//     each (NOTIFY is transactional: heard once the batch commits).
//   - SQLite: one transaction (one fsync) holding an INSERT per table per
//     chunk of rows, chunks of 64, 32, ..., 1 so the statement texts are a
//     fixed set, prepared once.
//
// Isolation per caller: an invoice that meets a unique key is skipped (ON
// CONFLICT DO NOTHING), and so are its event and deliveries; its caller
// hears storage.ErrNotInserted and takes the general path, which names the
// constraint. Any other failure fails the batch as a whole, and every one
// of its callers hears ErrNotInserted with the cause: none of the batch was
// written, and each retries alone.

// CreateNewInvoice implements storage.InvoiceCreator.
func (db *DB) CreateNewInvoice(ctx context.Context, n *storage.NewInvoice) error {
	if n == nil || n.Invoice == nil || n.Event == nil || n.Event.InvoiceID != n.Invoice.ID {
		return errors.New("storage: new invoice: an invoice and its own invoice.created event are required")
	}
	for _, d := range n.Deliveries {
		if d.EventID != n.Event.ID {
			return fmt.Errorf("storage: new invoice: delivery %s is not of event %s", d.ID, n.Event.ID)
		}
	}
	db.crypt.strictness.refresh(ctx, db.readPool(ctx)) // sealing.go; before the writer is held
	if db.group != nil {
		return db.group.submit(ctx, &groupRequest{ctx: ctx, create: n, done: make(chan groupResult, 1)})
	}
	return db.createNewInvoices([]*storage.NewInvoice{n})[0]
}

// createNewInvoices writes ns as one batch and returns each one's outcome:
// nil (written), storage.ErrNotInserted (skipped), or another error (its
// values could not be prepared, e.g. sealing refused).
func (db *DB) createNewInvoices(ns []*storage.NewInvoice) []error {
	out := make([]error, len(ns))
	q := &queries{d: db.d, crypt: db.crypt}
	rows := make([]newInvoiceRow, 0, len(ns))
	for i, n := range ns {
		args, err := q.invoiceArgs(n.Invoice)
		if err != nil {
			out[i] = err
			continue
		}
		note, err := notePayload(n.Invoice)
		if err != nil {
			out[i] = fmt.Errorf("storage: create invoice: %w", err)
			continue
		}
		n.Event.Sequence = 1 // the new invoice's first event
		rows = append(rows, newInvoiceRow{n: n, at: i, args: args, note: note})
	}
	if len(rows) == 0 {
		return out
	}
	var (
		inserted map[string]bool
		err      error
	)
	if db.d.DollarPlaceholders {
		inserted, err = db.insertNewInvoicesPostgres(rows)
	} else {
		inserted, err = db.insertNewInvoicesSQLite(rows)
	}
	for _, r := range rows {
		switch {
		case err != nil:
			out[r.at] = fmt.Errorf("%w: %w", storage.ErrNotInserted, err)
		case !inserted[r.n.Invoice.ID]:
			out[r.at] = storage.ErrNotInserted
		}
	}
	return out
}

// newInvoiceRow is one new invoice's values, ready to bind.
type newInvoiceRow struct {
	n    *storage.NewInvoice
	at   int   // index among the batch's callers
	args []any // invoiceArgs
	note string
}

// eventArgs are the values of an invoice's event in eventCols order, its
// Sequence as set (data nil as NULL).
func eventArgs(e *cryptopay.Event) []any {
	var data any
	if e.Data != nil {
		data = string(e.Data)
	}
	return []any{e.ID, e.StoreID, e.Livemode, string(e.Type), e.InvoiceID, e.Sequence, data, micros(e.CreatedAt)}
}

// deliveryArgs are d's values in deliveryCols order.
func deliveryArgs(d *cryptopay.WebhookDelivery) []any {
	return []any{d.ID, d.EndpointID, d.StoreID, d.Livemode, d.EventID, string(d.EventType), string(d.Status),
		int64(d.Attempts), d.Body, nullMicros(d.NextAttemptAt), micros(d.CreatedAt), micros(d.UpdatedAt)}
}

// insertNewInvoicesPostgres writes rows in one statement and returns the
// ids it inserted.
func (db *DB) insertNewInvoicesPostgres(rows []newInvoiceRow) (map[string]bool, error) {
	inv := newArrays(invoiceColTypes)
	ev := newArrays(eventColTypes)
	dl := newArrays(deliveryColTypes)
	var unless, notes, dlInvoice []string
	for _, r := range rows {
		inv.add(r.args)
		unless = append(unless, r.n.UnlessIncident)
		notes = append(notes, r.note)
		ev.add(eventArgs(r.n.Event))
		for _, d := range r.n.Deliveries {
			dl.add(deliveryArgs(d))
			dlInvoice = append(dlInvoice, r.n.Invoice.ID)
		}
	}
	var args []any
	for _, c := range []*columnArrays{inv, ev, dl} {
		a, err := c.args()
		if err != nil {
			return nil, err
		}
		args = append(args, a...)
		if c == inv {
			args = append(args, unless, notes)
		}
	}
	args = append(args, dlInvoice)
	q := &queries{d: db.d, q: db.writer, crypt: db.crypt}
	res, err := q.query(context.Background(), newInvoicesPostgres(db.d.NotifyInvoiceInline), args...)
	if err != nil {
		return nil, q.wrap("create invoices", err)
	}
	defer res.Close()
	inserted := make(map[string]bool, len(rows))
	for res.Next() {
		var id string
		var void sql.NullString
		if err := res.Scan(&id, &void); err != nil {
			return nil, q.wrap("create invoices", err)
		}
		inserted[id] = true
	}
	if err := res.Err(); err != nil {
		return nil, q.wrap("create invoices", err)
	}
	return inserted, nil
}

// newInvoicesPostgres is the one statement of a PostgreSQL batch. notify
// is Dialect.NotifyInvoiceInline; its ? is an inserted invoice's note:
// one notification per invoice, as a lone insert sends (one per batch
// could outgrow NOTIFY's 8000-byte payload).
func newInvoicesPostgres(notify string) string {
	var b strings.Builder
	b.WriteString(`WITH v AS (SELECT * FROM unnest(`)
	writeArrayParams(&b, invoiceColTypes, "TEXT", "TEXT")
	b.WriteString(`) AS v(` + invoiceCols + `, unless_incident, note)),
	ins AS (INSERT INTO invoices (` + invoiceCols + `, event_seq)
		SELECT ` + invoiceCols + `, 1 FROM v
		WHERE v.unless_incident = '' OR NOT EXISTS (SELECT 1 FROM incident_actions a
			WHERE a.closed_at IS NULL AND a.action = v.unless_incident)
		ON CONFLICT DO NOTHING RETURNING id),
	ev AS (INSERT INTO events (` + eventCols + `)
		SELECT e.* FROM unnest(`)
	writeArrayParams(&b, eventColTypes)
	b.WriteString(`) AS e(` + eventCols + `) WHERE e.invoice_id IN (SELECT id FROM ins)),
	dl AS (INSERT INTO webhook_deliveries (` + deliveryCols + `)
		SELECT ` + prefixed("d.", deliveryCols) + ` FROM unnest(`)
	writeArrayParams(&b, deliveryColTypes, "TEXT")
	b.WriteString(`) AS d(` + deliveryCols + `, invoice_id) WHERE d.invoice_id IN (SELECT id FROM ins))
	SELECT ins.id, ` + strings.Replace(notify, "?", `v.note`, 1) + ` FROM ins JOIN v ON v.id = ins.id`)
	return b.String()
}

// prefixed qualifies each column of a column list with p.
func prefixed(p, cols string) string {
	fields := strings.Split(cols, ",")
	for i, f := range fields {
		fields[i] = p + strings.TrimSpace(f)
	}
	return strings.Join(fields, ", ")
}

func writeArrayParams(b *strings.Builder, types []string, extra ...string) {
	for i, t := range append(types[:len(types):len(types)], extra...) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("CAST(? AS " + t + "[])")
	}
}

// The columns' SQL types, in invoiceCols, eventCols and deliveryCols
// order: each column travels as one array parameter.
var (
	invoiceColTypes = []string{"TEXT", "TEXT", "BOOLEAN", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT",
		"TEXT", "BIGINT", "TEXT", "BIGINT", "TEXT", "TEXT", "BIGINT", "TEXT", "TEXT", "TEXT",
		"BIGINT", "BIGINT", "BIGINT", "BIGINT", "TEXT", "TEXT", "BIGINT", "BIGINT"}
	eventColTypes    = []string{"TEXT", "TEXT", "BOOLEAN", "TEXT", "TEXT", "BIGINT", "TEXT", "BIGINT"}
	deliveryColTypes = []string{"TEXT", "TEXT", "TEXT", "BOOLEAN", "TEXT", "TEXT", "TEXT", "BIGINT", "BYTEA",
		"BIGINT", "BIGINT", "BIGINT"}
)

// columnArrays gathers rows of arguments into one array per column,
// typed by the column's SQL type; nil arguments (NULL) make the column's
// array one of pointers.
type columnArrays struct {
	types []string
	cols  [][]any
}

func newArrays(types []string) *columnArrays {
	return &columnArrays{types: types, cols: make([][]any, len(types))}
}

func (c *columnArrays) add(row []any) {
	for i, v := range row {
		c.cols[i] = append(c.cols[i], v)
	}
}

// args returns one typed slice per column: []string, []bool, []int64 or
// [][]byte, or for a column holding a NULL []*string or []*int64. A value
// of the wrong Go type for its column (a programming error) fails the
// batch, whose callers take the general path, instead of panicking in the
// group committer's goroutine.
func (c *columnArrays) args() (out []any, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("storage: create invoices: %v", p)
		}
	}()
	out = make([]any, len(c.types))
	for i, t := range c.types {
		out[i] = typedArray(t, c.cols[i])
	}
	return out, nil
}

func typedArray(sqlType string, vs []any) any {
	nullable := false
	for _, v := range vs {
		if v == nil {
			nullable = true
			break
		}
	}
	switch sqlType {
	case "TEXT":
		if nullable {
			out := make([]*string, len(vs))
			for i, v := range vs {
				if v != nil {
					s := v.(string)
					out[i] = &s
				}
			}
			return out
		}
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = v.(string)
		}
		return out
	case "BIGINT":
		if nullable {
			out := make([]*int64, len(vs))
			for i, v := range vs {
				if v != nil {
					n := toInt64(v)
					out[i] = &n
				}
			}
			return out
		}
		out := make([]int64, len(vs))
		for i, v := range vs {
			out[i] = toInt64(v)
		}
		return out
	case "BOOLEAN":
		out := make([]bool, len(vs))
		for i, v := range vs {
			out[i] = v.(bool)
		}
		return out
	case "BYTEA":
		out := make([][]byte, len(vs))
		for i, v := range vs {
			out[i] = v.([]byte)
		}
		return out
	}
	panic("sqldb: no array of " + sqlType)
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case int32:
		return int64(n)
	case uint32:
		return int64(n)
	}
	panic(fmt.Sprintf("sqldb: %T is not an integer column's value", v))
}

// insertNewInvoicesSQLite writes rows in one transaction on the writer
// and returns the ids it inserted.
func (db *DB) insertNewInvoicesSQLite(rows []newInvoiceRow) (inserted map[string]bool, err error) {
	ctx := context.Background()
	sqlTx, err := db.writer.BeginTx(ctx, db.d.WriteTx)
	if err != nil {
		return nil, db.wrap("begin", err)
	}
	defer func() {
		if err != nil {
			_ = sqlTx.Rollback()
		}
	}()
	var stmts *stmtCache
	if db.group != nil {
		stmts = db.group.stmts
	}
	q := &queries{d: db.d, q: sqlTx, crypt: db.crypt, detach: true, stmts: stmts}
	// The single writer holds the database: what this transaction reads
	// of incident actions stays true until it commits.
	blocked, err := q.openIncidentActions(ctx, rows)
	if err != nil {
		return nil, err
	}
	inserted = make(map[string]bool, len(rows))
	var invArgs [][]any
	for _, r := range rows {
		if !blocked[r.n.UnlessIncident] {
			invArgs = append(invArgs, append(r.args, int64(1)))
		}
	}
	err = q.insertChunks(ctx, `INSERT INTO invoices (`+invoiceCols+`, event_seq) VALUES `,
		` ON CONFLICT DO NOTHING RETURNING id`, invArgs, func(rs *sql.Rows) error {
			var id string
			if err := rs.Scan(&id); err != nil {
				return err
			}
			inserted[id] = true
			return nil
		})
	if err != nil {
		return nil, q.wrap("create invoices", err)
	}
	var evArgs, dlArgs [][]any
	for _, r := range rows {
		if !inserted[r.n.Invoice.ID] {
			continue
		}
		evArgs = append(evArgs, eventArgs(r.n.Event))
		for _, d := range r.n.Deliveries {
			dlArgs = append(dlArgs, deliveryArgs(d))
		}
	}
	if err := q.insertChunks(ctx, `INSERT INTO events (`+eventCols+`) VALUES `, ``, evArgs, nil); err != nil {
		return nil, q.wrap("create events", err)
	}
	if err := q.insertChunks(ctx, `INSERT INTO webhook_deliveries (`+deliveryCols+`) VALUES `, ``, dlArgs, nil); err != nil {
		return nil, q.wrap("create webhook deliveries", err)
	}
	if err := sqlTx.Commit(); err != nil {
		return nil, db.wrap("commit", err)
	}
	return inserted, nil
}

// openIncidentActions returns which of the incident action names rows
// are conditional on are open (none are looked up if no row names one).
func (s *queries) openIncidentActions(ctx context.Context, rows []newInvoiceRow) (map[string]bool, error) {
	asked := false
	for _, r := range rows {
		asked = asked || r.n.UnlessIncident != ""
	}
	if !asked {
		return nil, nil
	}
	rs, err := s.query(ctx, `SELECT DISTINCT action FROM incident_actions WHERE closed_at IS NULL`)
	if err != nil {
		return nil, s.wrap("list incident actions", err)
	}
	defer rs.Close()
	open := map[string]bool{}
	for rs.Next() {
		var a string
		if err := rs.Scan(&a); err != nil {
			return nil, s.wrap("list incident actions", err)
		}
		open[a] = true
	}
	return open, s.wrap("list incident actions", rs.Err())
}

// maxChunk is the most rows one multi-row statement carries.
const maxChunk = 64

// insertChunks runs head + "(?, ...), (?, ...)" + tail over rows in
// chunks of 64, 32, ..., 1 rows (a fixed set of statement texts, prepared
// once), handing each returned row to scan (nil: the statement returns
// none).
func (s *queries) insertChunks(ctx context.Context, head, tail string, rows [][]any, scan func(*sql.Rows) error) error {
	for len(rows) > 0 {
		n := maxChunk
		for n > len(rows) {
			n /= 2
		}
		chunk := rows[:n]
		rows = rows[n:]
		var b strings.Builder
		b.WriteString(head)
		args := make([]any, 0, n*len(chunk[0]))
		for i, r := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(" + strings.Repeat("?, ", len(r)-1) + "?)")
			args = append(args, r...)
		}
		b.WriteString(tail)
		if scan == nil {
			if _, err := s.exec(ctx, b.String(), args...); err != nil {
				return err
			}
			continue
		}
		rs, err := s.query(ctx, b.String(), args...)
		if err != nil {
			return err
		}
		for rs.Next() {
			if err := scan(rs); err != nil {
				rs.Close()
				return err
			}
		}
		if err := rs.Close(); err != nil {
			return err
		}
		if err := rs.Err(); err != nil {
			return err
		}
	}
	return nil
}
