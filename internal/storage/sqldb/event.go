package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Event data is TEXT on both engines, not JSONB on PostgreSQL: JSONB would
// reorder keys and drop whitespace, and webhook signatures are computed
// over the bytes exactly as written.

const eventCols = `id, store_id, livemode, type, invoice_id, sequence, data, created_at`

// ListEvents returns the filter's events newest first and whether more
// follow.
func (s *queries) ListEvents(ctx context.Context, f storage.EventFilter) ([]cryptopay.Event, bool, error) {
	var q strings.Builder
	q.WriteString(`SELECT ` + eventCols + ` FROM events WHERE store_id = ? AND livemode = ?`)
	args := []any{f.StoreID, f.Livemode}
	if f.InvoiceID != "" {
		q.WriteString(` AND invoice_id = ?`)
		args = append(args, f.InvoiceID)
	}
	if f.Type != "" {
		q.WriteString(` AND type = ?`)
		args = append(args, string(f.Type))
	}
	return listPage(ctx, s, "list events", q.String(), args, f.Page, scanEvent)
}

// GetEvent returns the event with id, or storage.ErrNotFound.
func (s *queries) GetEvent(ctx context.Context, id string) (*cryptopay.Event, error) {
	rows, err := s.query(ctx, `SELECT `+eventCols+` FROM events WHERE id = ?`, id)
	if err != nil {
		return nil, s.wrap("get event", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, s.wrap("get event", err)
		}
		return nil, s.wrap("get event", sql.ErrNoRows)
	}
	e, err := scanEvent(rows)
	if err != nil {
		return nil, s.wrap("get event", err)
	}
	return &e, nil
}

func scanEvent(rows *sql.Rows) (cryptopay.Event, error) {
	var (
		e         cryptopay.Event
		invoiceID sql.NullString
		sequence  sql.NullInt64
		data      sql.NullString
		created   int64
	)
	if err := rows.Scan(&e.ID, &e.StoreID, &e.Livemode, &e.Type, &invoiceID, &sequence, &data, &created); err != nil {
		return cryptopay.Event{}, err
	}
	e.InvoiceID, e.Sequence = invoiceID.String, sequence.Int64
	if data.Valid {
		e.Data = json.RawMessage(data.String)
	}
	e.CreatedAt = fromMicros(created)
	return e, nil
}

// CreateEvent inserts an event and sets its Sequence: for an event about
// an invoice, the next number of that invoice's events (whatever the
// caller put there is replaced), taken by bumping invoices.event_seq in
// this transaction. The UPDATE holds the invoice row until the transaction
// ends on PostgreSQL and SQLite has one writer, so concurrent writers get
// consecutive numbers in commit order, and a rolled-back event returns its
// number: no gaps, no repeats. An event without an invoice gets 0 (stored
// as NULL). Data is stored byte for byte (nil as NULL). An unknown store or
// invoice wraps storage.ErrForeignKey.
func (t *Tx) CreateEvent(ctx context.Context, e *cryptopay.Event) error {
	var data, sequence any
	if e.Data != nil {
		data = string(e.Data)
	}
	e.Sequence = 0
	if e.InvoiceID != "" && t.takeFirstEvent(e.InvoiceID) {
		// The invoice was created in this Tx with its first number
		// already counted: no UPDATE.
		e.Sequence = 1
		_, err := t.exec(ctx, `INSERT INTO events (`+eventCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, eventArgs(e)...)
		return t.wrap("create event", err)
	}
	if e.InvoiceID != "" && t.d.UpdateInCTE {
		// One statement, one round trip: the bump and the insert.
		err := t.queryRow(ctx, `WITH seq AS (UPDATE invoices SET event_seq = event_seq + 1 WHERE id = ? RETURNING event_seq)
			INSERT INTO events (`+eventCols+`)
			SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BOOLEAN), CAST(? AS TEXT), CAST(? AS TEXT),
				seq.event_seq, CAST(? AS TEXT), CAST(? AS BIGINT) FROM seq
			RETURNING sequence`,
			e.InvoiceID, e.ID, e.StoreID, e.Livemode, string(e.Type), e.InvoiceID, data, micros(e.CreatedAt)).Scan(&e.Sequence)
		if err == sql.ErrNoRows {
			return fmt.Errorf("storage: create event: invoice %s: %w", e.InvoiceID, storage.ErrForeignKey)
		}
		return t.wrap("create event", err)
	}
	if e.InvoiceID != "" {
		err := t.queryRow(ctx, `UPDATE invoices SET event_seq = event_seq + 1 WHERE id = ? RETURNING event_seq`,
			e.InvoiceID).Scan(&e.Sequence)
		if err == sql.ErrNoRows {
			return fmt.Errorf("storage: create event: invoice %s: %w", e.InvoiceID, storage.ErrForeignKey)
		}
		if err != nil {
			return t.wrap("create event", err)
		}
		sequence = e.Sequence
	}
	_, err := t.exec(ctx, `INSERT INTO events (`+eventCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.StoreID, e.Livemode, string(e.Type), nullString(e.InvoiceID), sequence, data, micros(e.CreatedAt))
	return t.wrap("create event", err)
}

// claimFirstEvent records that the invoice id was just inserted by this Tx
// with event_seq 1, the number of its first event, so CreateEvent need not
// bump it: an invoice's creation and its invoice.created event are written
// together, and this spares that transaction a statement.
func (t *Tx) claimFirstEvent(invoiceID string) {
	t.firstEvents = append(t.firstEvents, invoiceID)
}

// takeFirstEvent reports whether the invoice's first event number is
// claimed and unused, and uses it.
func (t *Tx) takeFirstEvent(invoiceID string) bool {
	i := slices.Index(t.firstEvents, invoiceID)
	if i < 0 {
		return false
	}
	t.firstEvents = slices.Delete(t.firstEvents, i, i+1)
	return true
}

// settle gives back the first event numbers claimed and not used (an
// invoice created without an event), so the invoice's first event is
// still number 1. It runs after the callback succeeded, in its
// transaction (and on a group-committed batch, inside its savepoint).
func (t *Tx) settle(ctx context.Context) error {
	for _, id := range t.firstEvents {
		if _, err := t.exec(ctx, `UPDATE invoices SET event_seq = 0 WHERE id = ? AND event_seq = 1`, id); err != nil {
			return t.wrap("settle event sequence", err)
		}
	}
	t.firstEvents = nil
	return nil
}
