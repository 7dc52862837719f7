package storage

import (
	"context"
	"time"
)

// DashboardRole is what a dashboard user may do in one store. Roles map
// onto API key scopes (internal/gateway), so the dashboard is authorised
// by the same rules as the API.
type DashboardRole string

// The dashboard roles, from least to most.
const (
	RoleViewer DashboardRole = "viewer" // reads invoices, events, webhooks
	RoleStaff  DashboardRole = "staff"  // also resolves invoices and redelivers webhooks
	RoleOwner  DashboardRole = "owner"  // everything, keys and audit included
)

// DashboardGrant gives a user a role in one store.
type DashboardGrant struct {
	StoreID string
	Role    DashboardRole
}

// DashboardUser is a person who signs in to the dashboard. The password
// is held only as an argon2id hash; TOTPSecret is the opened second-factor
// secret (stored sealed), nil until enrolled.
type DashboardUser struct {
	ID           string
	Email        string // lower case; unique
	PasswordHash string // argon2id PHC string
	TOTPSecret   []byte
	TOTPLastStep int64 // the last accepted TOTP time step
	Operator     bool  // sees every store, as owner
	FailedLogins int
	LockedUntil  *time.Time
	DisabledAt   *time.Time
	CreatedAt    time.Time
	Grants       []DashboardGrant // ordered by store id
}

// Dashboard session stages.
const (
	SessionSecondFactor = "second_factor" // the password was right; the TOTP code is due
	SessionSignedIn     = "signed_in"
)

// DashboardSession is a signed-in browser, keyed by the SHA-256 of its
// cookie token.
type DashboardSession struct {
	TokenHash  []byte
	UserID     string
	Stage      string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// DashboardReader reads dashboard accounts and sessions.
type DashboardReader interface {
	// GetDashboardUser returns the user with its grants, or ErrNotFound.
	GetDashboardUser(ctx context.Context, id string) (*DashboardUser, error)
	// GetDashboardUserByEmail looks a user up by lower-case email.
	GetDashboardUserByEmail(ctx context.Context, email string) (*DashboardUser, error)
	// ListDashboardUsers returns every user with grants, oldest first.
	ListDashboardUsers(ctx context.Context) ([]DashboardUser, error)
	// GetDashboardSession returns the session with tokenHash, or
	// ErrNotFound; expired sessions too (the caller judges).
	GetDashboardSession(ctx context.Context, tokenHash []byte) (*DashboardSession, error)
}

// DashboardTx writes dashboard accounts and sessions.
type DashboardTx interface {
	// CreateDashboardUser inserts u and its grants. A second user with the
	// same email is a *ConflictError on "dashboard_users_email_key"; a
	// grant naming an unknown store wraps ErrForeignKey.
	CreateDashboardUser(ctx context.Context, u *DashboardUser) error
	// UpdateDashboardUser writes the mutable fields: PasswordHash,
	// TOTPSecret, FailedLogins, LockedUntil, DisabledAt.
	UpdateDashboardUser(ctx context.Context, u *DashboardUser) error
	// PutDashboardGrant adds or changes the user's role in a store.
	PutDashboardGrant(ctx context.Context, userID string, g DashboardGrant) error
	// AdvanceTOTPStep records step as the user's last accepted TOTP step
	// if it is later than the stored one, and reports whether it was: a
	// code is accepted at most once, even by two concurrent requests.
	AdvanceTOTPStep(ctx context.Context, userID string, step int64) (bool, error)

	CreateDashboardSession(ctx context.Context, s *DashboardSession) error
	// UpdateDashboardSession writes Stage and LastSeenAt.
	UpdateDashboardSession(ctx context.Context, s *DashboardSession) error
	DeleteDashboardSession(ctx context.Context, tokenHash []byte) error
	// DeleteDashboardSessions ends every session of the user (password
	// change, lock, disable); it returns how many there were.
	DeleteDashboardSessions(ctx context.Context, userID string) (int64, error)
	// DeleteExpiredDashboardSessions removes sessions whose absolute
	// expiry or idle limit (last seen before idleBefore) has passed.
	DeleteExpiredDashboardSessions(ctx context.Context, now, idleBefore time.Time) (int64, error)
}
