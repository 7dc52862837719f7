package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/password"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Dashboard sign-in. A browser signs in with email and password, then
// (for a user with a second factor) a TOTP code; it then holds a session
// token in a cookie. Only the token's SHA-256 is stored.
const (
	AuditSignedIn     = "dashboard.signed_in"
	AuditSignInFailed = "dashboard.sign_in_failed"
	AuditUserLocked   = "dashboard_user.locked"
	AuditSignedOut    = "dashboard.signed_out"
)

// Session limits, after OWASP's session management guidance for
// high-value applications: a session ends after SessionIdle without a
// request and SessionAbsolute after sign-in, whichever comes first; the
// second-factor step must follow the password within SecondFactorWindow.
const (
	SessionIdle        = 30 * time.Minute
	SessionAbsolute    = 12 * time.Hour
	SecondFactorWindow = 5 * time.Minute
	// sessionTouchEvery bounds how often a request writes last_seen_at.
	sessionTouchEvery = time.Minute
)

// Lockout: MaxFailedSignIns consecutive failures (wrong password or wrong
// code) lock the account for LockDuration, and the operator is alerted
// through the audit log; a success resets the count.
const (
	MaxFailedSignIns = 5
	LockDuration     = 15 * time.Minute
)

// ErrSignIn is every refused sign-in, whatever the reason (unknown email,
// wrong password, locked or disabled account, wrong code): the browser
// learns nothing an attacker could use; the audit log has the reason.
var ErrSignIn = cryptopay.Errorf(cryptopay.CodeUnauthenticated, "The email, password or code is not right, or the account is locked. Try again later or ask the operator.")

// ErrNoSession is a missing, expired or ended session.
var ErrNoSession = cryptopay.Errorf(cryptopay.CodeUnauthenticated, "Your session has ended; sign in again.")

// Session is a valid session and its user.
type Session struct {
	Token string // the cookie value; only on a new session
	*storage.DashboardSession
	User *storage.DashboardUser
}

// SignedIn reports whether the session has passed every factor.
func (s *Session) SignedIn() bool { return s.Stage == storage.SessionSignedIn }

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// SignIn checks email and password and opens a session: at the second
// factor stage for a user with TOTP, signed in otherwise.
func (s *Service) SignIn(ctx context.Context, email, pw string) (*Session, error) {
	addr, err := normalEmail("email", email)
	if err != nil || len(pw) > 4*password.MaxLength {
		_, _ = password.Verify(pw, s.dummyHash())
		s.signInFailed(ctx, "", "malformed email or password")
		return nil, ErrSignIn
	}
	u, err := s.db.GetDashboardUserByEmail(ctx, addr)
	if errors.Is(err, storage.ErrNotFound) {
		_, _ = password.Verify(pw, s.dummyHash())
		s.signInFailed(ctx, "", "unknown email")
		return nil, ErrSignIn
	}
	if err != nil {
		return nil, err
	}
	ok, verr := password.Verify(pw, u.PasswordHash)
	now := s.Now()
	switch {
	case u.DisabledAt != nil:
		s.signInFailed(ctx, u.ID, "disabled")
		return nil, ErrSignIn
	case u.LockedUntil != nil && now.Before(*u.LockedUntil):
		s.signInFailed(ctx, u.ID, "locked")
		return nil, ErrSignIn
	case verr != nil:
		return nil, verr
	case !ok:
		return nil, s.countFailure(ctx, u.ID, "wrong password")
	}
	token := newSessionToken()
	sess := &storage.DashboardSession{TokenHash: tokenHash(token), UserID: u.ID, Stage: storage.SessionSecondFactor,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(SecondFactorWindow)}
	if u.TOTPSecret == nil {
		sess.Stage, sess.ExpiresAt = storage.SessionSignedIn, now.Add(SessionAbsolute)
	}
	err = s.db.InTx(ctx, func(tx storage.Tx) error {
		if sess.Stage == storage.SessionSignedIn {
			if err := s.signInSucceeded(ctx, tx, u, "password"); err != nil {
				return err
			}
		}
		if password.NeedsRehash(u.PasswordHash, s.pwParams) {
			cur, err := tx.GetDashboardUser(ctx, u.ID)
			if err != nil {
				return err
			}
			cur.PasswordHash = password.Hash(pw, s.pwParams)
			if err := tx.UpdateDashboardUser(ctx, cur); err != nil {
				return err
			}
		}
		return tx.CreateDashboardSession(ctx, sess)
	})
	if err != nil {
		return nil, err
	}
	return &Session{Token: token, DashboardSession: sess, User: u}, nil
}

// VerifySecondFactor checks a TOTP code for a session at the second
// factor stage and, if right, signs it in for SessionAbsolute. A code is
// accepted once: a replayed code fails even within its 30 seconds.
func (s *Service) VerifySecondFactor(ctx context.Context, token, code string) (*Session, error) {
	sess, err := s.Session(ctx, token)
	if err != nil {
		return nil, err
	}
	if sess.SignedIn() {
		return sess, nil
	}
	now := s.Now()
	step, ok := matchTOTP(sess.User.TOTPSecret, code, now)
	if !ok {
		return nil, s.countFailure(ctx, sess.User.ID, "wrong code")
	}
	err = s.db.InTx(ctx, func(tx storage.Tx) error {
		fresh, err := tx.AdvanceTOTPStep(ctx, sess.User.ID, step)
		if err != nil {
			return err
		}
		if !fresh {
			return errReplayedCode
		}
		if err := s.signInSucceeded(ctx, tx, sess.User, "password+totp"); err != nil {
			return err
		}
		sess.Stage, sess.LastSeenAt = storage.SessionSignedIn, now
		// The session row's absolute expiry runs from here; UpdateDashboardSession
		// writes only stage and last use, so replace the row's token.
		if err := tx.DeleteDashboardSession(ctx, sess.TokenHash); err != nil {
			return err
		}
		sess.Token = newSessionToken()
		sess.TokenHash, sess.CreatedAt, sess.ExpiresAt = tokenHash(sess.Token), now, now.Add(SessionAbsolute)
		return tx.CreateDashboardSession(ctx, sess.DashboardSession)
	})
	if errors.Is(err, errReplayedCode) {
		return nil, s.countFailure(ctx, sess.User.ID, "replayed code")
	}
	if err != nil {
		return nil, err
	}
	return sess, nil
}

var errReplayedCode = errors.New("gateway: totp code already used")

// totpOpts are RFC 6238's defaults, as enrolled by newTOTP.
var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// matchTOTP returns the time step code belongs to, allowing one step of
// clock drift either way, comparing in constant time.
func matchTOTP(secret []byte, code string, now time.Time) (int64, bool) {
	if len(secret) == 0 || len(code) != 6 {
		return 0, false
	}
	cur := now.Unix() / int64(totpOpts.Period)
	for _, step := range []int64{cur - 1, cur, cur + 1} {
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix(step*int64(totpOpts.Period), 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// Session returns the valid session of token, touching its last use; an
// expired, idle or unknown session, or one whose user is disabled or
// locked, is ErrNoSession (and an ended one is deleted).
func (s *Service) Session(ctx context.Context, token string) (*Session, error) {
	if len(token) != sessionTokenLen {
		return nil, ErrNoSession
	}
	h := tokenHash(token)
	ds, err := s.db.GetDashboardSession(ctx, h)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	now := s.Now()
	u, err := s.db.GetDashboardUser(ctx, ds.UserID)
	if err != nil {
		return nil, err
	}
	if !now.Before(ds.ExpiresAt) || now.Sub(ds.LastSeenAt) >= SessionIdle || u.DisabledAt != nil ||
		(u.LockedUntil != nil && now.Before(*u.LockedUntil)) {
		_ = s.db.InTx(ctx, func(tx storage.Tx) error { return tx.DeleteDashboardSession(ctx, h) })
		return nil, ErrNoSession
	}
	if now.Sub(ds.LastSeenAt) >= sessionTouchEvery {
		ds.LastSeenAt = now
		if err := s.db.InTx(ctx, func(tx storage.Tx) error { return tx.UpdateDashboardSession(ctx, ds) }); err != nil {
			return nil, err
		}
	}
	return &Session{DashboardSession: ds, User: u}, nil
}

// SignOut ends the session of token; ending an unknown one is fine.
func (s *Service) SignOut(ctx context.Context, token string) error {
	sess, err := s.Session(ctx, token)
	if errors.Is(err, ErrNoSession) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx storage.Tx) error {
		if err := tx.DeleteDashboardSession(ctx, sess.TokenHash); err != nil {
			return err
		}
		return s.Audit(ctx, tx, AuditRecord{Action: AuditSignedOut, Target: sess.User.ID})
	})
}

// PruneSessions deletes ended sessions; serve runs it periodically.
func (s *Service) PruneSessions(ctx context.Context) (int64, error) {
	now := s.Now()
	var n int64
	err := s.db.InTx(ctx, func(tx storage.Tx) (err error) {
		n, err = tx.DeleteExpiredDashboardSessions(ctx, now, now.Add(-SessionIdle))
		return err
	})
	return n, err
}

func (s *Service) signInSucceeded(ctx context.Context, tx storage.Tx, u *storage.DashboardUser, method string) error {
	cur, err := tx.GetDashboardUser(ctx, u.ID)
	if err != nil {
		return err
	}
	if cur.FailedLogins != 0 || cur.LockedUntil != nil {
		cur.FailedLogins, cur.LockedUntil = 0, nil
		if err := tx.UpdateDashboardUser(ctx, cur); err != nil {
			return err
		}
	}
	return s.Audit(ctx, tx, AuditRecord{Action: AuditSignedIn, Target: u.ID, Details: map[string]any{"method": method}})
}

// countFailure records a failed sign-in of a known user and locks it at
// the limit. It returns ErrSignIn (or the write's error).
func (s *Service) countFailure(ctx context.Context, userID, reason string) error {
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		u, err := tx.GetDashboardUser(ctx, userID)
		if err != nil {
			return err
		}
		u.FailedLogins++
		details := map[string]any{"reason": reason, "failures": u.FailedLogins}
		if err := s.Audit(ctx, tx, AuditRecord{Action: AuditSignInFailed, Target: u.ID, Details: details}); err != nil {
			return err
		}
		if u.FailedLogins >= MaxFailedSignIns {
			until := s.Now().Add(LockDuration)
			u.FailedLogins, u.LockedUntil = 0, &until
			if _, err := tx.DeleteDashboardSessions(ctx, u.ID); err != nil {
				return err
			}
			if err := s.Audit(ctx, tx, AuditRecord{Action: AuditUserLocked, Target: u.ID,
				Details: map[string]any{"until": until.Format(time.RFC3339)}}); err != nil {
				return err
			}
			s.log.WarnContext(ctx, "dashboard user locked after repeated failed sign-ins", "user", u.ID, "until", until)
		}
		return tx.UpdateDashboardUser(ctx, u)
	})
	if err != nil {
		return err
	}
	return ErrSignIn
}

// signInFailed audits a failed sign-in that counts against no account.
func (s *Service) signInFailed(ctx context.Context, userID, reason string) {
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		return s.Audit(ctx, tx, AuditRecord{Action: AuditSignInFailed, Target: userID, Details: map[string]any{"reason": reason}})
	})
	if err != nil {
		s.log.WarnContext(ctx, "audit failed sign-in", "err", err)
	}
}

// sessionTokenLen is the length of a session token: 32 random bytes in
// unpadded base64url.
const sessionTokenLen = 43

func newSessionToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("gateway: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// StoreAccess is what a signed-in user may do in one store: the store,
// the role, and the API-key-shaped caller the service's authorisation
// checks take (the role's scopes, the store's mode).
type StoreAccess struct {
	Store  *cryptopay.Store
	Role   storage.DashboardRole
	Caller *cryptopay.APIKey
}

// Access returns the session user's access to a store, or a not-found
// error when the user has none (as the API hides other stores). A live
// store needs a session that passed the second factor.
func (s *Service) Access(ctx context.Context, sess *Session, storeID string) (*StoreAccess, error) {
	if sess == nil || !sess.SignedIn() {
		return nil, ErrNoSession
	}
	role := storage.DashboardRole("")
	if sess.User.Operator {
		role = storage.RoleOwner
	}
	for _, g := range sess.User.Grants {
		if g.StoreID == storeID {
			role = g.Role
		}
	}
	if role == "" || !cryptopay.ValidID(cryptopay.PrefixStore, storeID) {
		return nil, notFound("store", storeID)
	}
	st, err := s.GetStore(ctx, storeID)
	if err != nil {
		return nil, err
	}
	if st.Livemode && sess.User.TOTPSecret == nil {
		return nil, cryptopay.Errorf(cryptopay.CodeForbidden, "Store %s is live: your account needs a second factor (ask the operator: cryptopay users reset-totp).", st.ID)
	}
	// The caller stands for the user within this store. Keys it creates
	// must expire within a year (Exceeds compares expiries).
	return &StoreAccess{Store: st, Role: role, Caller: &cryptopay.APIKey{
		ID: sess.User.ID, StoreID: st.ID, Livemode: st.Livemode, Scopes: RoleScopes(role),
		CreatedAt: sess.CreatedAt, ExpiresAt: s.Now().Add(366 * 24 * time.Hour),
	}}, nil
}

// VisibleStores lists the stores the session's user may open.
func (s *Service) VisibleStores(ctx context.Context, sess *Session) ([]cryptopay.Store, error) {
	all, err := s.db.ListStores(ctx)
	if err != nil {
		return nil, err
	}
	if sess.User.Operator {
		return all, nil
	}
	var out []cryptopay.Store
	for _, st := range all {
		for _, g := range sess.User.Grants {
			if g.StoreID == st.ID {
				out = append(out, st)
			}
		}
	}
	return out, nil
}

// SessionCSRF returns the anti-forgery token of a session: derived from
// the session token (which only the browser holds), so nothing more is
// stored and a token is worthless with any other session.
func SessionCSRF(token string) string {
	h := sha256.Sum256([]byte("cryptopay dashboard csrf\x00" + token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
