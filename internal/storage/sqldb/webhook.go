package sqldb

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

const endpointCols = `id, store_id, livemode, url, description, event_types, enabled, disabled_reason,
	secret, previous_secret, previous_secret_expires_at, created_at, updated_at, expires_at`

func scanEndpoint(row interface{ Scan(...any) error }) (*cryptopay.WebhookEndpoint, error) {
	var (
		e                cryptopay.WebhookEndpoint
		types            string
		prevExp, exp     sql.NullInt64
		created, updated int64
	)
	if err := row.Scan(&e.ID, &e.StoreID, &e.Livemode, &e.URL, &e.Description, &types, &e.Enabled,
		&e.DisabledReason, &e.Secret, &e.PreviousSecret, &prevExp, &created, &updated, &exp); err != nil {
		return nil, err
	}
	if err := fromJSON(types, &e.EventTypes); err != nil {
		return nil, err
	}
	e.PreviousSecretExpiresAt = fromNullMicros(prevExp)
	e.ExpiresAt = fromNullMicros(exp)
	e.CreatedAt, e.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &e, nil
}

// GetWebhookEndpoint returns the endpoint with id, or storage.ErrNotFound.
func (s *queries) GetWebhookEndpoint(ctx context.Context, id string) (*cryptopay.WebhookEndpoint, error) {
	e, err := scanEndpoint(s.queryRow(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE id = ?`, id))
	if err != nil {
		return nil, s.wrap("get webhook endpoint", err)
	}
	return e, nil
}

// ListWebhookEndpoints returns the filter's endpoints newest first.
func (s *queries) ListWebhookEndpoints(ctx context.Context, f storage.WebhookEndpointFilter) ([]cryptopay.WebhookEndpoint, bool, error) {
	q := `SELECT ` + endpointCols + ` FROM webhook_endpoints WHERE store_id = ? AND livemode = ?`
	args := []any{f.StoreID, f.Livemode}
	if f.StartingAfter != "" {
		q += ` AND id < ?`
		args = append(args, f.StartingAfter)
	}
	limit := pageLimit(f.Page)
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit+1)
	out, err := s.endpoints(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// ListWebhookSubscribers returns the enabled endpoints of the store and
// mode that want type t. The type filter runs in Go: a store has a handful
// of endpoints, and event_types is a JSON list on both engines.
//
// The endpoints carry no secrets (Secret and PreviousSecret are empty):
// they come from a cache (subscribercache.go) when they were read less
// than SubscriberCacheTTL ago.
func (s *queries) ListWebhookSubscribers(ctx context.Context, storeID string, livemode bool, t cryptopay.EventType) ([]cryptopay.WebhookEndpoint, error) {
	k := subscriberKey{storeID, livemode}
	all, gen, ok := s.subs.get(k)
	if !ok {
		at := time.Now()
		var err error
		all, err = s.endpoints(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints
			WHERE store_id = ? AND livemode = ? AND enabled = ? ORDER BY id`, storeID, livemode, true)
		if err != nil {
			return nil, err
		}
		all = s.subs.put(k, gen, at, all)
	}
	out := make([]cryptopay.WebhookEndpoint, 0, len(all))
	for _, e := range all {
		if e.Wants(t) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *queries) endpoints(ctx context.Context, q string, args ...any) ([]cryptopay.WebhookEndpoint, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, s.wrap("list webhook endpoints", err)
	}
	defer rows.Close()
	var out []cryptopay.WebhookEndpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, s.wrap("list webhook endpoints", err)
		}
		out = append(out, *e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list webhook endpoints", err)
	}
	return out, nil
}

// CreateWebhookEndpoint inserts e.
func (t *Tx) CreateWebhookEndpoint(ctx context.Context, e *cryptopay.WebhookEndpoint) error {
	t.wroteEndpoints()
	types, err := toJSON(nonNilTypes(e.EventTypes))
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO webhook_endpoints (`+endpointCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.StoreID, e.Livemode, e.URL, e.Description, types, e.Enabled, e.DisabledReason,
		e.Secret, e.PreviousSecret, nullMicros(e.PreviousSecretExpiresAt), micros(e.CreatedAt), micros(e.UpdatedAt),
		nullMicros(e.ExpiresAt))
	return t.wrap("create webhook endpoint", err)
}

// UpdateWebhookEndpoint writes e's mutable fields.
func (t *Tx) UpdateWebhookEndpoint(ctx context.Context, e *cryptopay.WebhookEndpoint) error {
	t.wroteEndpoints()
	types, err := toJSON(nonNilTypes(e.EventTypes))
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, `UPDATE webhook_endpoints SET url = ?, description = ?, event_types = ?,
		enabled = ?, disabled_reason = ?, secret = ?, previous_secret = ?, previous_secret_expires_at = ?,
		updated_at = ?, expires_at = ? WHERE id = ?`,
		e.URL, e.Description, types, e.Enabled, e.DisabledReason, e.Secret, e.PreviousSecret,
		nullMicros(e.PreviousSecretExpiresAt), micros(e.UpdatedAt), nullMicros(e.ExpiresAt), e.ID)
	return t.mustAffect("update webhook endpoint", res, err)
}

// DeleteWebhookEndpoint removes the endpoint; its deliveries and attempts
// go with it (ON DELETE CASCADE on both engines).
func (t *Tx) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	t.wroteEndpoints()
	res, err := t.exec(ctx, `DELETE FROM webhook_endpoints WHERE id = ?`, id)
	return t.mustAffect("delete webhook endpoint", res, err)
}

func nonNilTypes(ts []cryptopay.EventType) []cryptopay.EventType {
	if ts == nil {
		return []cryptopay.EventType{}
	}
	return ts
}

const deliveryCols = `id, endpoint_id, store_id, livemode, event_id, event_type, status, attempts, body,
	next_attempt_at, created_at, updated_at`

func scanDelivery(row interface{ Scan(...any) error }) (*cryptopay.WebhookDelivery, error) {
	var (
		d                cryptopay.WebhookDelivery
		next             sql.NullInt64
		created, updated int64
	)
	if err := row.Scan(&d.ID, &d.EndpointID, &d.StoreID, &d.Livemode, &d.EventID, &d.EventType, &d.Status,
		&d.Attempts, &d.Body, &next, &created, &updated); err != nil {
		return nil, err
	}
	d.NextAttemptAt = fromNullMicros(next)
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &d, nil
}

// GetWebhookDelivery returns the delivery with its attempts.
func (s *queries) GetWebhookDelivery(ctx context.Context, id string) (*cryptopay.WebhookDelivery, error) {
	var d *cryptopay.WebhookDelivery
	err := s.snapshot(ctx, func(q *queries) error {
		var err error
		d, err = scanDelivery(q.queryRow(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries WHERE id = ?`, id))
		if err != nil {
			return q.wrap("get webhook delivery", err)
		}
		rows, err := q.query(ctx, `SELECT delivery_id, number, started_at, duration_us, status_code, response_body, error
			FROM webhook_attempts WHERE delivery_id = ? ORDER BY number`, id)
		if err != nil {
			return q.wrap("get webhook attempts", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				a            cryptopay.WebhookAttempt
				started, dur int64
			)
			if err := rows.Scan(&a.DeliveryID, &a.Number, &started, &dur, &a.StatusCode, &a.ResponseBody, &a.Error); err != nil {
				return q.wrap("get webhook attempts", err)
			}
			a.StartedAt, a.Duration = fromMicros(started), time.Duration(dur)*time.Microsecond
			d.Attempt = append(d.Attempt, a)
		}
		return q.wrap("get webhook attempts", rows.Err())
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// ListWebhookDeliveries returns the filter's deliveries newest first.
func (s *queries) ListWebhookDeliveries(ctx context.Context, f storage.WebhookDeliveryFilter) ([]cryptopay.WebhookDelivery, bool, error) {
	q := `SELECT ` + deliveryCols + ` FROM webhook_deliveries WHERE endpoint_id = ?`
	args := []any{f.EndpointID}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, string(f.Status))
	}
	if f.StartingAfter != "" {
		q += ` AND id < ?`
		args = append(args, f.StartingAfter)
	}
	limit := pageLimit(f.Page)
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, false, s.wrap("list webhook deliveries", err)
	}
	defer rows.Close()
	var out []cryptopay.WebhookDelivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, false, s.wrap("list webhook deliveries", err)
		}
		out = append(out, *d)
	}
	if err := rows.Err(); err != nil {
		return nil, false, s.wrap("list webhook deliveries", err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// LastWebhookSuccess returns the start of the endpoint's latest 2xx attempt.
func (s *queries) LastWebhookSuccess(ctx context.Context, endpointID string) (*time.Time, error) {
	var v sql.NullInt64
	err := s.queryRow(ctx, `SELECT MAX(a.started_at) FROM webhook_attempts a
		JOIN webhook_deliveries d ON d.id = a.delivery_id
		WHERE d.endpoint_id = ? AND a.status_code >= 200 AND a.status_code < 300`, endpointID).Scan(&v)
	if err != nil {
		return nil, s.wrap("last webhook success", err)
	}
	return fromNullMicros(v), nil
}

// CreateWebhookDelivery inserts d.
func (t *Tx) CreateWebhookDelivery(ctx context.Context, d *cryptopay.WebhookDelivery) error {
	_, err := t.exec(ctx, `INSERT INTO webhook_deliveries (`+deliveryCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, deliveryArgs(d)...)
	return t.wrap("create webhook delivery", err)
}

// RecordWebhookAttempt stores a and moves its delivery on. The attempt
// count is the attempt's number, so a replayed record (a worker that
// crashed after writing it) cannot count twice: the primary key refuses it.
func (t *Tx) RecordWebhookAttempt(ctx context.Context, a *cryptopay.WebhookAttempt, status cryptopay.DeliveryStatus, next *time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO webhook_attempts (delivery_id, number, started_at, duration_us, status_code, response_body, error)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.DeliveryID, a.Number, micros(a.StartedAt), a.Duration.Microseconds(), a.StatusCode, a.ResponseBody, a.Error)
	if err != nil {
		return t.wrap("record webhook attempt", err)
	}
	res, err := t.exec(ctx, `UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, updated_at = ?,
		claimed_until = NULL WHERE id = ?`, string(status), a.Number, nullMicros(next), micros(a.StartedAt.Add(a.Duration)), a.DeliveryID)
	return t.mustAffect("record webhook attempt", res, err)
}

// RecordWebhookAttempts records rs in chunks of 64, 32, ..., 1 rows: two
// statements a chunk (a multi-row INSERT, and an UPDATE joined to a VALUES
// list, whose columns both engines name column1, column2, ...). Chunk
// sizes are powers of two so the statements are a fixed set, prepared once
// on SQLite.
func (t *Tx) RecordWebhookAttempts(ctx context.Context, rs []storage.WebhookAttemptRecord) error {
	for len(rs) > 0 {
		n := 64
		for n > len(rs) {
			n /= 2
		}
		if err := t.recordAttemptChunk(ctx, rs[:n]); err != nil {
			return err
		}
		rs = rs[n:]
	}
	return nil
}

func (t *Tx) recordAttemptChunk(ctx context.Context, rs []storage.WebhookAttemptRecord) error {
	ins := `INSERT INTO webhook_attempts (delivery_id, number, started_at, duration_us, status_code, response_body, error)
		VALUES (?, ?, ?, ?, ?, ?, ?)` + strings.Repeat(`, (?, ?, ?, ?, ?, ?, ?)`, len(rs)-1)
	// PostgreSQL types a VALUES list's parameters as text unless cast.
	row := `(?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT))`
	upd := `UPDATE webhook_deliveries SET status = v.column2, attempts = v.column3, next_attempt_at = v.column4,
		updated_at = v.column5, claimed_until = NULL
		FROM (VALUES ` + row + strings.Repeat(", "+row, len(rs)-1) + `) AS v WHERE webhook_deliveries.id = v.column1`
	insArgs := make([]any, 0, 7*len(rs))
	updArgs := make([]any, 0, 5*len(rs))
	for _, r := range rs {
		a := r.Attempt
		insArgs = append(insArgs, a.DeliveryID, a.Number, micros(a.StartedAt), a.Duration.Microseconds(), a.StatusCode,
			a.ResponseBody, a.Error)
		updArgs = append(updArgs, a.DeliveryID, string(r.Status), a.Number, nullMicros(r.Next),
			micros(a.StartedAt.Add(a.Duration)))
	}
	if _, err := t.exec(ctx, ins, insArgs...); err != nil {
		return t.wrap("record webhook attempts", err)
	}
	res, err := t.exec(ctx, upd, updArgs...)
	if err != nil {
		return t.wrap("record webhook attempts", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return t.wrap("record webhook attempts", err)
	}
	if n != int64(len(rs)) {
		return storage.ErrNotFound // a delivery gone (its endpoint deleted): the caller records one by one
	}
	return nil
}

// claimCols is deliveryCols and endpointCols of the claim's join.
var claimCols = prefixCols("d.", deliveryCols) + ", " + prefixCols("e.", endpointCols)

func prefixCols(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// ClaimWebhookDeliveries claims due deliveries with their endpoints. skip
// becomes a NOT IN list: it holds the few endpoints at their in-flight cap.
//
// The engines differ. PostgreSQL claims in one statement: the candidates
// are locked (FOR UPDATE SKIP LOCKED: rows another claimer holds are
// skipped, not waited for, so concurrent claimers on several instances
// never take the same delivery nor wait for each other) and updated, and
// the update returns them joined with their endpoints. SQLite cannot
// return another table's columns from an UPDATE; there the candidates are
// read joined and then claimed one by one, which its single writer makes
// atomic, and each statement is prepared once, so the steps cost little.
func (t *Tx) ClaimWebhookDeliveries(ctx context.Context, now, until time.Time, limit int, skip []string) ([]storage.ClaimedWebhookDelivery, error) {
	where := `d.status = 'pending' AND d.next_attempt_at <= ? AND (d.claimed_until IS NULL OR d.claimed_until <= ?)`
	args := []any{micros(now), micros(now)}
	if len(skip) > 0 {
		where += ` AND d.endpoint_id NOT IN (?` + strings.Repeat(", ?", len(skip)-1) + `)`
		for _, id := range skip {
			args = append(args, id)
		}
	}
	var q string
	if t.d.Name == "postgres" {
		q = `WITH c AS (SELECT d.id FROM webhook_deliveries d WHERE ` + where + `
			ORDER BY d.next_attempt_at, d.id LIMIT ? FOR UPDATE SKIP LOCKED)
			UPDATE webhook_deliveries d SET claimed_until = ? FROM c, webhook_endpoints e
			WHERE d.id = c.id AND e.id = d.endpoint_id RETURNING ` + claimCols
		args = append(args, limit, micros(until))
	} else {
		q = `SELECT ` + claimCols + ` FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
			WHERE ` + where + ` ORDER BY d.next_attempt_at, d.id LIMIT ?`
		args = append(args, limit)
	}
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, t.wrap("claim webhook deliveries", err)
	}
	var out []storage.ClaimedWebhookDelivery
	for rows.Next() {
		c, err := scanClaim(rows)
		if err != nil {
			rows.Close()
			return nil, t.wrap("claim webhook deliveries", err)
		}
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, t.wrap("claim webhook deliveries", err)
	}
	if t.d.Name == "postgres" {
		// RETURNING keeps no order: earliest due first, as on SQLite.
		slices.SortFunc(out, func(a, b storage.ClaimedWebhookDelivery) int {
			return cmp.Or(a.Delivery.NextAttemptAt.Compare(*b.Delivery.NextAttemptAt), cmp.Compare(a.Delivery.ID, b.Delivery.ID))
		})
		return out, nil
	}
	// One statement per row keeps the text fixed, so it is prepared once
	// (a list of ids would be a new statement for every batch size).
	for _, c := range out {
		if _, err := t.exec(ctx, `UPDATE webhook_deliveries SET claimed_until = ? WHERE id = ?`,
			micros(until), c.Delivery.ID); err != nil {
			return nil, t.wrap("claim webhook deliveries", err)
		}
	}
	return out, nil
}

func scanClaim(row interface{ Scan(...any) error }) (storage.ClaimedWebhookDelivery, error) {
	var (
		c                            storage.ClaimedWebhookDelivery
		d                            = &c.Delivery
		e                            = &c.Endpoint
		next, prevExp, exp           sql.NullInt64
		dCreated, dUpdated, eCreated int64
		eUpdated                     int64
		types                        string
	)
	if err := row.Scan(&d.ID, &d.EndpointID, &d.StoreID, &d.Livemode, &d.EventID, &d.EventType, &d.Status,
		&d.Attempts, &d.Body, &next, &dCreated, &dUpdated,
		&e.ID, &e.StoreID, &e.Livemode, &e.URL, &e.Description, &types, &e.Enabled,
		&e.DisabledReason, &e.Secret, &e.PreviousSecret, &prevExp, &eCreated, &eUpdated, &exp); err != nil {
		return c, err
	}
	if err := fromJSON(types, &e.EventTypes); err != nil {
		return c, err
	}
	d.NextAttemptAt = fromNullMicros(next)
	d.CreatedAt, d.UpdatedAt = fromMicros(dCreated), fromMicros(dUpdated)
	e.PreviousSecretExpiresAt, e.ExpiresAt = fromNullMicros(prevExp), fromNullMicros(exp)
	e.CreatedAt, e.UpdatedAt = fromMicros(eCreated), fromMicros(eUpdated)
	return c, nil
}

// ReleaseWebhookDelivery makes a pending delivery still under the claim
// ending at held due again at until.
func (t *Tx) ReleaseWebhookDelivery(ctx context.Context, id string, held, until time.Time) error {
	_, err := t.exec(ctx, `UPDATE webhook_deliveries SET claimed_until = ?
		WHERE id = ? AND status = 'pending' AND claimed_until = ?`, micros(until), id, micros(held))
	return t.wrap("release webhook delivery", err)
}

// Endpoint secrets are sealed by the webhook service (which needs them to
// sign) with SealAAD, and registered here so a key rotation re-seals them.
func init() {
	RegisterSealedColumn(SealedColumn{Table: "webhook_endpoints", IDColumn: "id", Column: "secret"})
	RegisterSealedColumn(SealedColumn{Table: "webhook_endpoints", IDColumn: "id", Column: "previous_secret", SkipEmpty: true})
}
