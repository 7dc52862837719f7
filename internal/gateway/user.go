package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"

	"github.com/pquerna/otp/totp"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/password"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Dashboard accounts are made and changed by the operator at the command
// line (`cryptopay users ...`); the dashboard itself only signs them in.
// Every change is audited outside any store.
const (
	AuditUserCreated   = "dashboard_user.created"
	AuditUserGranted   = "dashboard_user.granted"
	AuditUserTOTPReset = "dashboard_user.totp_reset"
	AuditUserPassword  = "dashboard_user.password_set"
	AuditUserDisabled  = "dashboard_user.disabled"
	AuditUserUnlocked  = "dashboard_user.unlocked"
)

// PrefixUser starts dashboard user ids.
const PrefixUser = "usr"

// totpIssuer names the gateway in authenticator apps.
const totpIssuer = "CryptoPay"

// UserParams describe a new dashboard user.
type UserParams struct {
	Email    string
	Password string
	// Operator users see every store as owner; staff users see the
	// stores of Grants.
	Operator bool
	Grants   []storage.DashboardGrant
	// WithoutTOTP skips enrolling a second factor. It is refused for an
	// operator and for a grant to a live store: the guide's second factor
	// is mandatory wherever real money is visible.
	WithoutTOTP bool
}

// CreatedUser is a new user and, shown once, its TOTP enrolment: the
// otpauth:// URL an authenticator app reads (as a QR code or pasted) and
// the secret it encodes.
type CreatedUser struct {
	User       *storage.DashboardUser
	TOTPURL    string
	TOTPSecret string
}

// ParseRole returns the role named s or an error naming param.
func ParseRole(param, s string) (storage.DashboardRole, error) {
	r := storage.DashboardRole(s)
	if !slices.Contains([]storage.DashboardRole{storage.RoleViewer, storage.RoleStaff, storage.RoleOwner}, r) {
		return "", cryptopay.Invalid(param, "%s %q is not a role; use viewer, staff or owner.", param, s)
	}
	return r, nil
}

// RoleScopes are the API scopes a dashboard role carries. The dashboard
// acts through the same service calls as an API key with these scopes,
// so a role can never do more than the matching key could.
func RoleScopes(r storage.DashboardRole) []cryptopay.Scope {
	switch r {
	case storage.RoleOwner:
		return slices.Clone(cryptopay.AllScopes)
	case storage.RoleStaff:
		return []cryptopay.Scope{cryptopay.ScopeEventsRead, cryptopay.ScopeInvoicesRead, cryptopay.ScopeInvoicesWrite,
			cryptopay.ScopeWebhooksRead, cryptopay.ScopeWebhooksWrite}
	case storage.RoleViewer:
		return []cryptopay.Scope{cryptopay.ScopeEventsRead, cryptopay.ScopeInvoicesRead, cryptopay.ScopeWebhooksRead}
	}
	return nil
}

// normalEmail validates and lower-cases an email address (the sign-in
// name; addresses differ in case only by accident).
func normalEmail(param, s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != strings.TrimSpace(s) || a.Name != "" || len(s) > 254 {
		return "", cryptopay.Invalid(param, "%s must be a plain email address such as owner@example.com.", param)
	}
	return strings.ToLower(a.Address), nil
}

// CreateUser makes a dashboard user (operator only: the command line).
func (s *Service) CreateUser(ctx context.Context, p UserParams) (*CreatedUser, error) {
	email, err := normalEmail("email", p.Email)
	if err != nil {
		return nil, err
	}
	if err := password.Check(p.Password, email); err != nil {
		return nil, cryptopay.Invalid("password", "%s.", capitalise(err.Error()))
	}
	if !p.Operator && len(p.Grants) == 0 {
		return nil, cryptopay.Invalid("store", "A staff user needs at least one store (or make an operator user).")
	}
	if p.Operator && len(p.Grants) > 0 {
		return nil, cryptopay.Invalid("store", "An operator user sees every store; give stores only to staff users.")
	}
	if p.WithoutTOTP && p.Operator {
		return nil, cryptopay.Invalid("totp", "An operator user sees live stores and must have a second factor.")
	}
	seen := map[string]bool{}
	for _, g := range p.Grants {
		if seen[g.StoreID] {
			return nil, cryptopay.Invalid("store", "Store %s is named twice.", g.StoreID)
		}
		seen[g.StoreID] = true
		st, err := s.GetStore(ctx, g.StoreID)
		if err != nil {
			return nil, err
		}
		if p.WithoutTOTP && st.Livemode {
			return nil, cryptopay.Invalid("totp", "Store %s is live: a user who sees it must have a second factor.", st.ID)
		}
	}
	now := s.Now()
	u := &storage.DashboardUser{
		ID:           cryptopay.NewID(PrefixUser, now),
		Email:        email,
		PasswordHash: password.Hash(p.Password, s.pwParams),
		Operator:     p.Operator,
		CreatedAt:    now,
		Grants:       slices.Clone(p.Grants),
	}
	out := &CreatedUser{User: u}
	if !p.WithoutTOTP {
		if out.TOTPURL, out.TOTPSecret, err = newTOTP(email); err != nil {
			return nil, err
		}
		u.TOTPSecret = []byte(out.TOTPSecret)
	}
	slices.SortFunc(u.Grants, func(a, b storage.DashboardGrant) int { return strings.Compare(a.StoreID, b.StoreID) })
	err = s.db.InTx(ctx, func(tx storage.Tx) error {
		if err := tx.CreateDashboardUser(ctx, u); err != nil {
			return err
		}
		return s.Audit(ctx, tx, AuditRecord{Action: AuditUserCreated, Target: u.ID,
			Details: map[string]any{"operator": u.Operator, "grants": grantDetails(u.Grants), "totp": !p.WithoutTOTP}})
	})
	if ce, ok := errors.AsType[*storage.ConflictError](err); ok && ce.Constraint == "dashboard_users_email_key" {
		return nil, cryptopay.Errorf(cryptopay.CodeConflict, "A user with email %s already exists.", email)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func grantDetails(gs []storage.DashboardGrant) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.StoreID + ":" + string(g.Role)
	}
	return out
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// newTOTP enrols a fresh 160-bit TOTP secret (RFC 6238 defaults: SHA-1,
// 6 digits, 30 s, which every authenticator app reads).
func newTOTP(email string) (url, secret string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: email})
	if err != nil {
		return "", "", fmt.Errorf("gateway: totp enrolment: %w", err)
	}
	return k.URL(), k.Secret(), nil
}

// ListUsers returns every dashboard user.
func (s *Service) ListUsers(ctx context.Context) ([]storage.DashboardUser, error) {
	return s.db.ListDashboardUsers(ctx)
}

// userByEmail loads a user for an operator command.
func (s *Service) userByEmail(ctx context.Context, r storage.Reader, email string) (*storage.DashboardUser, error) {
	e, err := normalEmail("email", email)
	if err != nil {
		return nil, err
	}
	u, err := r.GetDashboardUserByEmail(ctx, e)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, cryptopay.Errorf(cryptopay.CodeNotFound, "No dashboard user has email %s.", e)
	}
	return u, err
}

// changeUser runs fn on the user with email in one transaction, then
// writes the user, ends every session of it (a changed password, second
// factor or status must not leave an old browser signed in) and audits.
func (s *Service) changeUser(ctx context.Context, email, action string, details map[string]any, fn func(tx storage.Tx, u *storage.DashboardUser) error) (*storage.DashboardUser, error) {
	var out *storage.DashboardUser
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		u, err := s.userByEmail(ctx, tx, email)
		if err != nil {
			return err
		}
		if err := fn(tx, u); err != nil {
			return err
		}
		if err := tx.UpdateDashboardUser(ctx, u); err != nil {
			return err
		}
		n, err := tx.DeleteDashboardSessions(ctx, u.ID)
		if err != nil {
			return err
		}
		d := map[string]any{"sessions_ended": n}
		for k, v := range details {
			d[k] = v
		}
		out = u
		return s.Audit(ctx, tx, AuditRecord{Action: action, Target: u.ID, Details: d})
	})
	return out, err
}

// GrantUser gives a staff user a role in a store (or changes it).
func (s *Service) GrantUser(ctx context.Context, email, storeID string, role storage.DashboardRole) (*storage.DashboardUser, error) {
	st, err := s.GetStore(ctx, storeID)
	if err != nil {
		return nil, err
	}
	return s.changeUser(ctx, email, AuditUserGranted, map[string]any{"store": st.ID, "role": string(role)}, func(tx storage.Tx, u *storage.DashboardUser) error {
		if u.Operator {
			return cryptopay.Invalid("email", "An operator user already sees every store.")
		}
		if st.Livemode && u.TOTPSecret == nil {
			return cryptopay.Invalid("store", "Store %s is live: enrol a second factor first (cryptopay users reset-totp).", st.ID)
		}
		g := storage.DashboardGrant{StoreID: st.ID, Role: role}
		u.Grants = append(slices.DeleteFunc(u.Grants, func(h storage.DashboardGrant) bool { return h.StoreID == st.ID }), g)
		return tx.PutDashboardGrant(ctx, u.ID, g)
	})
}

// ResetUserTOTP enrols a new second factor for a user (a lost phone) and
// returns it, shown once.
func (s *Service) ResetUserTOTP(ctx context.Context, email string) (*CreatedUser, error) {
	out := &CreatedUser{}
	u, err := s.changeUser(ctx, email, AuditUserTOTPReset, nil, func(tx storage.Tx, u *storage.DashboardUser) error {
		var err error
		out.TOTPURL, out.TOTPSecret, err = newTOTP(u.Email)
		u.TOTPSecret = []byte(out.TOTPSecret)
		return err
	})
	out.User = u
	return out, err
}

// SetUserPassword sets a new password and unlocks the user.
func (s *Service) SetUserPassword(ctx context.Context, email, pw string) (*storage.DashboardUser, error) {
	return s.changeUser(ctx, email, AuditUserPassword, nil, func(tx storage.Tx, u *storage.DashboardUser) error {
		if err := password.Check(pw, u.Email); err != nil {
			return cryptopay.Invalid("password", "%s.", capitalise(err.Error()))
		}
		u.PasswordHash, u.FailedLogins, u.LockedUntil = password.Hash(pw, s.pwParams), 0, nil
		return nil
	})
}

// DisableUser stops a user from signing in, for good; its audit trail
// stays.
func (s *Service) DisableUser(ctx context.Context, email string) (*storage.DashboardUser, error) {
	return s.changeUser(ctx, email, AuditUserDisabled, nil, func(tx storage.Tx, u *storage.DashboardUser) error {
		if u.DisabledAt == nil {
			now := s.Now()
			u.DisabledAt = &now
		}
		return nil
	})
}

// UnlockUser lifts a lock from repeated failed sign-ins.
func (s *Service) UnlockUser(ctx context.Context, email string) (*storage.DashboardUser, error) {
	return s.changeUser(ctx, email, AuditUserUnlocked, nil, func(tx storage.Tx, u *storage.DashboardUser) error {
		u.FailedLogins, u.LockedUntil = 0, nil
		return nil
	})
}
