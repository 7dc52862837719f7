package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Event data is TEXT on both engines, not JSONB on PostgreSQL: JSONB would
// reorder keys and drop whitespace, and webhook signatures are computed
// over the bytes exactly as written.

const eventCols = `id, store_id, livemode, type, invoice_id, data, created_at`

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

func scanEvent(rows *sql.Rows) (cryptopay.Event, error) {
	var (
		e         cryptopay.Event
		invoiceID sql.NullString
		data      sql.NullString
		created   int64
	)
	if err := rows.Scan(&e.ID, &e.StoreID, &e.Livemode, &e.Type, &invoiceID, &data, &created); err != nil {
		return cryptopay.Event{}, err
	}
	e.InvoiceID = invoiceID.String
	if data.Valid {
		e.Data = json.RawMessage(data.String)
	}
	e.CreatedAt = fromMicros(created)
	return e, nil
}

// CreateEvent inserts an event. Data is stored byte for byte (nil as
// NULL). An unknown store or invoice wraps storage.ErrForeignKey.
func (t *Tx) CreateEvent(ctx context.Context, e *cryptopay.Event) error {
	var data any
	if e.Data != nil {
		data = string(e.Data)
	}
	_, err := t.exec(ctx, `INSERT INTO events (`+eventCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.StoreID, e.Livemode, string(e.Type), nullString(e.InvoiceID), data, micros(e.CreatedAt))
	if err != nil {
		return t.wrap("create event", err)
	}
	if t.hook != nil {
		return (*t.hook)(ctx, t, e) // the webhook outbox, in this same transaction
	}
	return nil
}
