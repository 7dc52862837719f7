package sqldb

import (
	"context"
	"database/sql"
	"time"

	"github.com/cryptopay/cryptopay/internal/storage"
)

// The dashboard's TOTP secrets are sealed like webhook secrets: bound to
// their row, re-sealed by `cryptopay encryption rotate`. "" means not yet
// enrolled.
func init() {
	RegisterSealedColumn(SealedColumn{Table: "dashboard_users", IDColumn: "id", Column: "totp_secret", SkipEmpty: true})
}

const dashboardUserCols = `id, email, password_hash, totp_secret, totp_last_step, operator, failed_logins,
	locked_until, disabled_at, created_at`

func (s *queries) scanDashboardUser(row interface{ Scan(...any) error }) (*storage.DashboardUser, error) {
	var (
		u              storage.DashboardUser
		totp           string
		locked, disabl sql.NullInt64
		created        int64
	)
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &totp, &u.TOTPLastStep, &u.Operator, &u.FailedLogins,
		&locked, &disabl, &created); err != nil {
		return nil, err
	}
	if totp != "" {
		secret, err := s.open("dashboard_users", "totp_secret", u.ID, totp)
		if err != nil {
			return nil, err
		}
		u.TOTPSecret = secret
	}
	u.LockedUntil, u.DisabledAt, u.CreatedAt = fromNullMicros(locked), fromNullMicros(disabl), fromMicros(created)
	return &u, nil
}

// dashboardGrants reads one user's grants, ordered by store.
func (s *queries) dashboardGrants(ctx context.Context, userID string) ([]storage.DashboardGrant, error) {
	rows, err := s.query(ctx, `SELECT store_id, role FROM dashboard_grants WHERE user_id = ? ORDER BY store_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []storage.DashboardGrant{}
	for rows.Next() {
		var g storage.DashboardGrant
		var role string
		if err := rows.Scan(&g.StoreID, &role); err != nil {
			return nil, err
		}
		g.Role = storage.DashboardRole(role)
		out = append(out, g)
	}
	return out, rows.Err()
}

func (s *queries) getDashboardUser(ctx context.Context, op, where string, arg any) (*storage.DashboardUser, error) {
	u, err := s.scanDashboardUser(s.queryRow(ctx, `SELECT `+dashboardUserCols+` FROM dashboard_users WHERE `+where+` = ?`, arg))
	if err != nil {
		return nil, s.wrap(op, err)
	}
	if u.Grants, err = s.dashboardGrants(ctx, u.ID); err != nil {
		return nil, s.wrap(op, err)
	}
	return u, nil
}

// GetDashboardUser returns the user with id and its grants.
func (s *queries) GetDashboardUser(ctx context.Context, id string) (*storage.DashboardUser, error) {
	return s.getDashboardUser(ctx, "get dashboard user", "id", id)
}

// GetDashboardUserByEmail returns the user with email and its grants.
func (s *queries) GetDashboardUserByEmail(ctx context.Context, email string) (*storage.DashboardUser, error) {
	return s.getDashboardUser(ctx, "get dashboard user", "email", email)
}

// ListDashboardUsers returns every user, oldest first, with grants.
func (s *queries) ListDashboardUsers(ctx context.Context) ([]storage.DashboardUser, error) {
	rows, err := s.query(ctx, `SELECT `+dashboardUserCols+` FROM dashboard_users ORDER BY created_at, id`)
	if err != nil {
		return nil, s.wrap("list dashboard users", err)
	}
	out := []storage.DashboardUser{}
	for rows.Next() {
		u, err := s.scanDashboardUser(rows)
		if err != nil {
			rows.Close()
			return nil, s.wrap("list dashboard users", err)
		}
		out = append(out, *u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list dashboard users", err)
	}
	for i := range out { // after the rows close: SQLite readers may hold one connection
		if out[i].Grants, err = s.dashboardGrants(ctx, out[i].ID); err != nil {
			return nil, s.wrap("list dashboard users", err)
		}
	}
	return out, nil
}

// GetDashboardSession returns the session whose token hashes to tokenHash.
func (s *queries) GetDashboardSession(ctx context.Context, tokenHash []byte) (*storage.DashboardSession, error) {
	var (
		ds                   storage.DashboardSession
		created, seen, until int64
	)
	err := s.queryRow(ctx, `SELECT token_hash, user_id, stage, created_at, last_seen_at, expires_at
		FROM dashboard_sessions WHERE token_hash = ?`, tokenHash).
		Scan(&ds.TokenHash, &ds.UserID, &ds.Stage, &created, &seen, &until)
	if err != nil {
		return nil, s.wrap("get dashboard session", err)
	}
	ds.CreatedAt, ds.LastSeenAt, ds.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(until)
	return &ds, nil
}

// sealTOTP seals a user's TOTP secret, or returns "" for none.
func (t *Tx) sealTOTP(u *storage.DashboardUser) (string, error) {
	if len(u.TOTPSecret) == 0 {
		return "", nil
	}
	return t.seal("dashboard_users", "totp_secret", u.ID, u.TOTPSecret)
}

// CreateDashboardUser inserts u and its grants.
func (t *Tx) CreateDashboardUser(ctx context.Context, u *storage.DashboardUser) error {
	totp, err := t.sealTOTP(u)
	if err != nil {
		return err
	}
	if _, err := t.exec(ctx, `INSERT INTO dashboard_users (`+dashboardUserCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.PasswordHash, totp, u.TOTPLastStep, u.Operator, u.FailedLogins,
		nullMicros(u.LockedUntil), nullMicros(u.DisabledAt), micros(u.CreatedAt)); err != nil {
		return t.wrap("create dashboard user", err)
	}
	for _, g := range u.Grants {
		if err := t.PutDashboardGrant(ctx, u.ID, g); err != nil {
			return err
		}
	}
	return nil
}

// UpdateDashboardUser writes the user's mutable fields.
func (t *Tx) UpdateDashboardUser(ctx context.Context, u *storage.DashboardUser) error {
	totp, err := t.sealTOTP(u)
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, `UPDATE dashboard_users SET password_hash = ?, totp_secret = ?, failed_logins = ?,
		locked_until = ?, disabled_at = ? WHERE id = ?`,
		u.PasswordHash, totp, u.FailedLogins, nullMicros(u.LockedUntil), nullMicros(u.DisabledAt), u.ID)
	return t.mustAffect("update dashboard user", res, err)
}

// PutDashboardGrant upserts the user's role in a store.
func (t *Tx) PutDashboardGrant(ctx context.Context, userID string, g storage.DashboardGrant) error {
	_, err := t.exec(ctx, `INSERT INTO dashboard_grants (user_id, store_id, role) VALUES (?, ?, ?)
		ON CONFLICT (user_id, store_id) DO UPDATE SET role = excluded.role`, userID, g.StoreID, string(g.Role))
	return t.wrap("put dashboard grant", err)
}

// AdvanceTOTPStep moves the last accepted step forward, in one statement
// so two requests with the same code cannot both succeed.
func (t *Tx) AdvanceTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	res, err := t.exec(ctx, `UPDATE dashboard_users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`,
		step, userID, step)
	if err != nil {
		return false, t.wrap("advance totp step", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, t.wrap("advance totp step", err)
	}
	return n == 1, nil
}

// CreateDashboardSession inserts a session.
func (t *Tx) CreateDashboardSession(ctx context.Context, s *storage.DashboardSession) error {
	_, err := t.exec(ctx, `INSERT INTO dashboard_sessions (token_hash, user_id, stage, created_at, last_seen_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`, s.TokenHash, s.UserID, s.Stage, micros(s.CreatedAt), micros(s.LastSeenAt), micros(s.ExpiresAt))
	return t.wrap("create dashboard session", err)
}

// UpdateDashboardSession writes the session's stage and last use.
func (t *Tx) UpdateDashboardSession(ctx context.Context, s *storage.DashboardSession) error {
	res, err := t.exec(ctx, `UPDATE dashboard_sessions SET stage = ?, last_seen_at = ? WHERE token_hash = ?`,
		s.Stage, micros(s.LastSeenAt), s.TokenHash)
	return t.mustAffect("update dashboard session", res, err)
}

// DeleteDashboardSession ends one session; ending a missing one is not an
// error (signing out twice is fine).
func (t *Tx) DeleteDashboardSession(ctx context.Context, tokenHash []byte) error {
	_, err := t.exec(ctx, `DELETE FROM dashboard_sessions WHERE token_hash = ?`, tokenHash)
	return t.wrap("delete dashboard session", err)
}

// DeleteDashboardSessions ends every session of a user.
func (t *Tx) DeleteDashboardSessions(ctx context.Context, userID string) (int64, error) {
	res, err := t.exec(ctx, `DELETE FROM dashboard_sessions WHERE user_id = ?`, userID)
	if err != nil {
		return 0, t.wrap("delete dashboard sessions", err)
	}
	n, err := res.RowsAffected()
	return n, t.wrap("delete dashboard sessions", err)
}

// DeleteExpiredDashboardSessions removes sessions past either limit.
func (t *Tx) DeleteExpiredDashboardSessions(ctx context.Context, now, idleBefore time.Time) (int64, error) {
	res, err := t.exec(ctx, `DELETE FROM dashboard_sessions WHERE expires_at <= ? OR last_seen_at < ?`,
		micros(now), micros(idleBefore))
	if err != nil {
		return 0, t.wrap("delete expired dashboard sessions", err)
	}
	n, err := res.RowsAffected()
	return n, t.wrap("delete expired dashboard sessions", err)
}
