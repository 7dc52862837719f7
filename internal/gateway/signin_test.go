package gateway

import (
	"errors"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/password"
	"github.com/cryptopay/cryptopay/internal/storage"
)

const testPassword = "a long enough passphrase"

// newUserService is a test service with cheap password hashing, a test
// store and a live store.
func newUserService(t *testing.T, open func(t *testing.T) storage.DB) (*Service, *testClock, *cryptopay.Store, *cryptopay.Store) {
	svc, clk := newTestService(t, open)
	svc.pwParams = password.Params{Memory: 64, Time: 1, Threads: 1}
	ctx := operatorCtx(t)
	test, err := svc.CreateStore(ctx, StoreParams{Name: "test shop",
		Wallets: []WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: regtestVpub(t, 0)}}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := svc.CreateStore(ctx, StoreParams{Name: "other shop",
		Wallets: []WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: regtestVpub(t, 1)}}})
	if err != nil {
		t.Fatal(err)
	}
	return svc, clk, test, other
}

func codeAt(t *testing.T, secret string, at time.Time) string {
	c, err := totp.GenerateCodeCustom(secret, at, totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSignInWithSecondFactor(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			svc, clk, st, other := newUserService(t, e.open)
			ctx := operatorCtx(t)
			cu, err := svc.CreateUser(ctx, UserParams{Email: "Staff@Example.com", Password: testPassword,
				Grants: []storage.DashboardGrant{{StoreID: st.ID, Role: storage.RoleStaff}}})
			if err != nil {
				t.Fatal(err)
			}
			if cu.User.Email != "staff@example.com" || cu.TOTPSecret == "" || cu.TOTPURL == "" {
				t.Fatalf("created user %+v", cu)
			}

			// Wrong password, then right password: at the second factor
			// stage, no store visible yet.
			if _, err := svc.SignIn(t.Context(), "staff@example.com", "not the password"); !errors.Is(err, ErrSignIn) {
				t.Fatalf("wrong password: %v", err)
			}
			sess, err := svc.SignIn(t.Context(), "STAFF@example.com", testPassword)
			if err != nil || sess.SignedIn() {
				t.Fatalf("SignIn = %+v, %v; want a session at the second factor", sess, err)
			}
			if _, err := svc.Access(t.Context(), sess, st.ID); !errors.Is(err, ErrNoSession) {
				t.Fatalf("access before the second factor: %v", err)
			}
			if _, err := svc.VerifySecondFactor(t.Context(), sess.Token, "000000"); !errors.Is(err, ErrSignIn) {
				t.Fatalf("wrong code: %v", err)
			}
			code := codeAt(t, cu.TOTPSecret, clk.now())
			full, err := svc.VerifySecondFactor(t.Context(), sess.Token, code)
			if err != nil || !full.SignedIn() || full.Token == sess.Token {
				t.Fatalf("VerifySecondFactor = %+v, %v; want signed in under a new token", full, err)
			}
			if _, err := svc.Session(t.Context(), sess.Token); !errors.Is(err, ErrNoSession) {
				t.Error("the pre-second-factor token still works after sign-in")
			}

			// The same code cannot sign in a second browser.
			again, err := svc.SignIn(t.Context(), "staff@example.com", testPassword)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.VerifySecondFactor(t.Context(), again.Token, code); !errors.Is(err, ErrSignIn) {
				t.Errorf("replayed TOTP code: %v, want refused", err)
			}

			// Store access: granted store as staff; other store hidden.
			acc, err := svc.Access(t.Context(), full, st.ID)
			if err != nil || acc.Role != storage.RoleStaff || !acc.Caller.Has(cryptopay.ScopeInvoicesWrite) || acc.Caller.Has(cryptopay.ScopeKeysWrite) {
				t.Fatalf("Access = %+v, %v", acc, err)
			}
			if _, err := svc.Access(t.Context(), full, other.ID); cryptopay.ErrorCode(err) != cryptopay.CodeNotFound {
				t.Errorf("access to an ungranted store: %v, want not_found", err)
			}

			// Idle timeout: a session unused for SessionIdle ends.
			clk.off.Add(int64(SessionIdle))
			if _, err := svc.Session(t.Context(), full.Token); !errors.Is(err, ErrNoSession) {
				t.Errorf("idle session: %v, want ended", err)
			}
		})
	}
}

func TestSignInLockout(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			svc, clk, st, _ := newUserService(t, e.open)
			ctx := operatorCtx(t)
			if _, err := svc.CreateUser(ctx, UserParams{Email: "v@example.com", Password: testPassword, WithoutTOTP: true,
				Grants: []storage.DashboardGrant{{StoreID: st.ID, Role: storage.RoleViewer}}}); err != nil {
				t.Fatal(err)
			}
			live, err := svc.SignIn(t.Context(), "v@example.com", testPassword)
			if err != nil || !live.SignedIn() {
				t.Fatalf("sign-in without a second factor: %+v, %v", live, err)
			}
			for i := range MaxFailedSignIns {
				if _, err := svc.SignIn(t.Context(), "v@example.com", "wrong password "+string(rune('a'+i))); !errors.Is(err, ErrSignIn) {
					t.Fatalf("failure %d: %v", i, err)
				}
			}
			if _, err := svc.SignIn(t.Context(), "v@example.com", testPassword); !errors.Is(err, ErrSignIn) {
				t.Fatalf("right password while locked: %v, want refused", err)
			}
			if _, err := svc.Session(t.Context(), live.Token); !errors.Is(err, ErrNoSession) {
				t.Error("the lock left an open session working")
			}
			clk.off.Add(int64(LockDuration))
			if _, err := svc.SignIn(t.Context(), "v@example.com", testPassword); err != nil {
				t.Errorf("after the lock: %v", err)
			}
			entries, _, err := svc.ListAuditEntries(t.Context(), nil, AuditQuery{Action: AuditUserLocked})
			if err != nil || len(entries) != 1 {
				t.Errorf("lock audit entries: %d, %v; want 1", len(entries), err)
			}
		})
	}
}

func TestCreateUserRefuses(t *testing.T) {
	svc, _, st, _ := newUserService(t, engines()[0].open)
	ctx := operatorCtx(t)
	cases := []struct {
		name  string
		p     UserParams
		param string
	}{
		{"bad email", UserParams{Email: "not an email", Password: testPassword, Operator: true}, "email"},
		{"short password", UserParams{Email: "a@example.com", Password: "short", Operator: true}, "password"},
		{"staff without store", UserParams{Email: "a@example.com", Password: testPassword}, "store"},
		{"operator without totp", UserParams{Email: "a@example.com", Password: testPassword, Operator: true, WithoutTOTP: true}, "totp"},
		{"operator with stores", UserParams{Email: "a@example.com", Password: testPassword, Operator: true,
			Grants: []storage.DashboardGrant{{StoreID: st.ID, Role: storage.RoleOwner}}}, "store"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.CreateUser(ctx, tc.p)
			if e, ok := errors.AsType[*cryptopay.Error](err); !ok || e.Param != tc.param {
				t.Errorf("CreateUser = %v, want an error naming %q", err, tc.param)
			}
		})
	}
	if _, err := svc.CreateUser(ctx, UserParams{Email: "dup@example.com", Password: testPassword, Operator: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, UserParams{Email: "DUP@example.com", Password: testPassword, Operator: true}); cryptopay.ErrorCode(err) != cryptopay.CodeConflict {
		t.Errorf("duplicate email: %v, want conflict", err)
	}
}
