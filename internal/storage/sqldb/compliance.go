package sqldb

import (
	"context"
	"database/sql"
	"math/big"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay/internal/storage"
)

const complianceCols = `store_id, currency, max_invoice, daily, monthly, customer_daily, warn_basis_points,
	personal_retention_days, financial_retention_days, redacted_through, updated_at`

func scanCompliance(row interface{ Scan(...any) error }) (*storage.ComplianceSettings, error) {
	var c storage.ComplianceSettings
	var through, updated int64
	if err := row.Scan(&c.StoreID, &c.Currency, &c.MaxInvoice, &c.Daily, &c.Monthly, &c.CustomerDaily,
		&c.WarnBasisPoints, &c.PersonalRetentionDays, &c.FinancialRetentionDays, &through, &updated); err != nil {
		return nil, err
	}
	c.RedactedThrough, c.UpdatedAt = fromMicros(through), fromMicros(updated)
	return &c, nil
}

// GetComplianceSettings returns the store's settings or storage.ErrNotFound.
func (s *queries) GetComplianceSettings(ctx context.Context, storeID string) (*storage.ComplianceSettings, error) {
	c, err := scanCompliance(s.queryRow(ctx, `SELECT `+complianceCols+` FROM store_compliance WHERE store_id = ?`, storeID))
	if err != nil {
		return nil, s.wrap("get compliance settings", err)
	}
	return c, nil
}

// LockComplianceSettings reads the store's settings and holds them for the
// transaction. Engines differ: PostgreSQL runs write transactions
// concurrently at READ COMMITTED, so the row is locked FOR UPDATE and a
// second creator waits for the first to commit, after which its sums see
// the first's usage (each statement takes a fresh snapshot). SQLite has
// one writer: the transaction is already alone, and FOR UPDATE does not
// parse there.
func (t *Tx) LockComplianceSettings(ctx context.Context, storeID string) (*storage.ComplianceSettings, error) {
	q := `SELECT ` + complianceCols + ` FROM store_compliance WHERE store_id = ?`
	if t.d.Name == "postgres" {
		q += ` FOR UPDATE`
	}
	c, err := scanCompliance(t.queryRow(ctx, q, storeID))
	if err != nil {
		return nil, t.wrap("lock compliance settings", err)
	}
	return c, nil
}

// PutComplianceSettings inserts or replaces the store's settings.
func (t *Tx) PutComplianceSettings(ctx context.Context, c *storage.ComplianceSettings) error {
	_, err := t.exec(ctx, `INSERT INTO store_compliance (`+complianceCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (store_id) DO UPDATE SET currency = excluded.currency, max_invoice = excluded.max_invoice,
		daily = excluded.daily, monthly = excluded.monthly, customer_daily = excluded.customer_daily,
		warn_basis_points = excluded.warn_basis_points, personal_retention_days = excluded.personal_retention_days,
		financial_retention_days = excluded.financial_retention_days, redacted_through = excluded.redacted_through,
		updated_at = excluded.updated_at`,
		c.StoreID, c.Currency, c.MaxInvoice, c.Daily, c.Monthly, c.CustomerDaily, c.WarnBasisPoints,
		c.PersonalRetentionDays, c.FinancialRetentionDays, micros(c.RedactedThrough), micros(c.UpdatedAt))
	return t.wrap("put compliance settings", err)
}

// SetRedactedThrough records how far the retention job has redacted.
func (t *Tx) SetRedactedThrough(ctx context.Context, storeID string, at time.Time) error {
	res, err := t.exec(ctx, `UPDATE store_compliance SET redacted_through = ? WHERE store_id = ?`, micros(at), storeID)
	return t.mustAffect("set redacted through", res, err)
}

// AddLimitUsage records an invoice's value against its store's limits.
func (t *Tx) AddLimitUsage(ctx context.Context, u *storage.LimitUsage) error {
	_, err := t.exec(ctx, `INSERT INTO limit_usage (invoice_id, store_id, subject, value, created_at)
		VALUES (?, ?, ?, ?, ?)`, u.InvoiceID, u.StoreID, u.Subject, u.Value, micros(u.At))
	return t.wrap("add limit usage", err)
}

// SumLimitUsage sums usage in SQL. This is the one place amounts are
// summed by the database: values are integer minor units of fiat that
// each fit a BIGINT, and both engines sum integers exactly (SQLite fails
// with "integer overflow" rather than wrap; PostgreSQL's SUM of BIGINT is
// NUMERIC). The text cast hands the exact sum to big.Int.
func (s *queries) SumLimitUsage(ctx context.Context, storeID, subject string, since, until time.Time) (*big.Int, error) {
	q := `SELECT CAST(COALESCE(SUM(value), 0) AS TEXT) FROM limit_usage WHERE store_id = ? AND created_at >= ? AND created_at < ?`
	args := []any{storeID, micros(since), micros(until)}
	if subject != "" {
		q += ` AND subject = ?`
		args = append(args, subject)
	}
	var sum string
	if err := s.queryRow(ctx, q, args...).Scan(&sum); err != nil {
		return nil, s.wrap("sum limit usage", err)
	}
	return parseAmount(sum)
}

// ListInvoiceIDsCreated returns the store's invoice ids created in
// [from, to), oldest first.
func (s *queries) ListInvoiceIDsCreated(ctx context.Context, storeID string, from, to time.Time, limit int) ([]string, error) {
	rows, err := s.query(ctx, `SELECT id FROM invoices WHERE store_id = ? AND created_at >= ? AND created_at < ?
		ORDER BY created_at, id LIMIT ?`, storeID, micros(from), micros(to), limit)
	if err != nil {
		return nil, s.wrap("list invoice ids", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, s.wrap("list invoice ids", err)
		}
		out = append(out, id)
	}
	return out, s.wrap("list invoice ids", rows.Err())
}

const reviewCols = `id, store_id, livemode, invoice_id, rule, title, text, evidence, status, opened_at,
	resolved_at, resolved_by, note`

func scanReview(row interface{ Scan(...any) error }) (storage.Review, error) {
	var (
		r        storage.Review
		evidence string
		opened   int64
		resolved sql.NullInt64
	)
	if err := row.Scan(&r.ID, &r.StoreID, &r.Livemode, &r.InvoiceID, &r.Rule, &r.Title, &r.Text, &evidence,
		&r.Status, &opened, &resolved, &r.ResolvedBy, &r.Note); err != nil {
		return r, err
	}
	if err := fromJSON(evidence, &r.Evidence); err != nil {
		return r, err
	}
	r.OpenedAt, r.ResolvedAt = fromMicros(opened), fromNullMicros(resolved)
	return r, nil
}

// CreateReview inserts a review.
func (t *Tx) CreateReview(ctx context.Context, r *storage.Review) error {
	ev, err := toJSON(r.Evidence)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO reviews (`+reviewCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.StoreID, r.Livemode, r.InvoiceID, r.Rule, r.Title, r.Text, ev, r.Status, micros(r.OpenedAt),
		nullMicros(r.ResolvedAt), r.ResolvedBy, r.Note)
	return t.wrap("create review", err)
}

// ResolveReview resolves an open review, or returns storage.ErrNotFound.
func (t *Tx) ResolveReview(ctx context.Context, id, by, note string, at time.Time) error {
	res, err := t.exec(ctx, `UPDATE reviews SET status = ?, resolved_at = ?, resolved_by = ?, note = ?
		WHERE id = ? AND status = ?`, storage.ReviewResolved, micros(at), by, note, id, storage.ReviewOpen)
	return t.mustAffect("resolve review", res, err)
}

// GetReview returns a review or storage.ErrNotFound.
func (s *queries) GetReview(ctx context.Context, id string) (*storage.Review, error) {
	r, err := scanReview(s.queryRow(ctx, `SELECT `+reviewCols+` FROM reviews WHERE id = ?`, id))
	if err != nil {
		return nil, s.wrap("get review", err)
	}
	return &r, nil
}

// ListReviews returns the filter's reviews newest first.
func (s *queries) ListReviews(ctx context.Context, f storage.ReviewFilter) ([]storage.Review, bool, error) {
	var q strings.Builder
	q.WriteString(`SELECT ` + reviewCols + ` FROM reviews WHERE 1 = 1`)
	var args []any
	if f.StoreID != "" {
		q.WriteString(` AND store_id = ?`)
		args = append(args, f.StoreID)
	}
	if f.Livemode != nil {
		q.WriteString(` AND livemode = ?`)
		args = append(args, *f.Livemode)
	}
	if f.Status != "" {
		q.WriteString(` AND status = ?`)
		args = append(args, f.Status)
	}
	if !f.From.IsZero() {
		q.WriteString(` AND opened_at >= ?`)
		args = append(args, micros(f.From))
	}
	if !f.To.IsZero() {
		q.WriteString(` AND opened_at < ?`)
		args = append(args, micros(f.To))
	}
	return listPage(ctx, s, "list reviews", q.String(), args, f.Page,
		func(r *sql.Rows) (storage.Review, error) { return scanReview(r) })
}

const incidentCols = `id, action, actor, details, created_at, closed_at`

// CreateIncidentAction records an incident action in force.
func (t *Tx) CreateIncidentAction(ctx context.Context, a *storage.IncidentAction) error {
	d, err := toJSON(a.Details)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO incident_actions (`+incidentCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		a.ID, a.Action, a.Actor, d, micros(a.CreatedAt), nullMicros(a.ClosedAt))
	return t.wrap("create incident action", err)
}

// CloseIncidentActions closes every open action.
func (t *Tx) CloseIncidentActions(ctx context.Context, at time.Time) (int64, error) {
	res, err := t.exec(ctx, `UPDATE incident_actions SET closed_at = ? WHERE closed_at IS NULL`, micros(at))
	if err != nil {
		return 0, t.wrap("close incident actions", err)
	}
	n, err := res.RowsAffected()
	return n, t.wrap("close incident actions", err)
}

// ListOpenIncidentActions returns the open actions, oldest first.
func (s *queries) ListOpenIncidentActions(ctx context.Context) ([]storage.IncidentAction, error) {
	rows, err := s.query(ctx, `SELECT `+incidentCols+` FROM incident_actions WHERE closed_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, s.wrap("list incident actions", err)
	}
	defer rows.Close()
	var out []storage.IncidentAction
	for rows.Next() {
		var (
			a       storage.IncidentAction
			d       string
			created int64
			closed  sql.NullInt64
		)
		if err := rows.Scan(&a.ID, &a.Action, &a.Actor, &d, &created, &closed); err != nil {
			return nil, s.wrap("list incident actions", err)
		}
		if err := fromJSON(d, &a.Details); err != nil {
			return nil, err
		}
		a.CreatedAt, a.ClosedAt = fromMicros(created), fromNullMicros(closed)
		out = append(out, a)
	}
	return out, s.wrap("list incident actions", rows.Err())
}

// LinkSubjectInvoice records that invoiceID belongs to subject.
func (t *Tx) LinkSubjectInvoice(ctx context.Context, subject, invoiceID string) error {
	_, err := t.exec(ctx, `INSERT INTO subject_invoices (subject, invoice_id) VALUES (?, ?)
		ON CONFLICT (subject, invoice_id) DO NOTHING`, subject, invoiceID)
	return t.wrap("link subject invoice", err)
}

// ForgetSubject removes subject from the index and the limit usage.
func (t *Tx) ForgetSubject(ctx context.Context, subject string) (int64, error) {
	res, err := t.exec(ctx, `DELETE FROM subject_invoices WHERE subject = ?`, subject)
	if err != nil {
		return 0, t.wrap("forget subject", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, t.wrap("forget subject", err)
	}
	if _, err := t.exec(ctx, `UPDATE limit_usage SET subject = '' WHERE subject = ?`, subject); err != nil {
		return 0, t.wrap("forget subject", err)
	}
	return n, nil
}

// ListSubjectInvoices returns the subject's invoice ids, oldest first.
func (s *queries) ListSubjectInvoices(ctx context.Context, subject string) ([]string, error) {
	rows, err := s.query(ctx, `SELECT invoice_id FROM subject_invoices WHERE subject = ? ORDER BY invoice_id`, subject)
	if err != nil {
		return nil, s.wrap("list subject invoices", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, s.wrap("list subject invoices", err)
		}
		out = append(out, id)
	}
	return out, s.wrap("list subject invoices", rows.Err())
}
