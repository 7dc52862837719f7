package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/storage"
)

func newDashboardUser(email string, grants ...storage.DashboardGrant) *storage.DashboardUser {
	return &storage.DashboardUser{
		ID:           "usr_" + email,
		Email:        email,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		TOTPSecret:   []byte("JBSWY3DPEHPK3PXP"),
		CreatedAt:    base,
		Grants:       grants,
	}
}

// testDashboardUsers checks accounts: created with grants, read back by
// id and email, emails unique, grants only to existing stores, mutable
// fields written, TOTP steps accepted once.
func testDashboardUsers(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "dash")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })

	alice := newDashboardUser("alice@example.com", storage.DashboardGrant{StoreID: st.ID, Role: storage.RoleStaff})
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateDashboardUser(ctx, alice) })
	want := *alice
	want.CreatedAt = us(base)
	for name, get := range map[string]func() (*storage.DashboardUser, error){
		"by id":    func() (*storage.DashboardUser, error) { return db.GetDashboardUser(ctx, alice.ID) },
		"by email": func() (*storage.DashboardUser, error) { return db.GetDashboardUserByEmail(ctx, alice.Email) },
	} {
		got, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		diff(t, name, &want, got)
	}
	if _, err := db.GetDashboardUserByEmail(ctx, "nobody@example.com"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown email: %v, want ErrNotFound", err)
	}

	dup := newDashboardUser("alice@example.com")
	dup.ID = "usr_other"
	wantConflict(t, db.InTx(ctx, func(tx storage.Tx) error { return tx.CreateDashboardUser(ctx, dup) }), "dashboard_users_email_key")
	stray := newDashboardUser("bob@example.com", storage.DashboardGrant{StoreID: "sto_missing", Role: storage.RoleViewer})
	if err := db.InTx(ctx, func(tx storage.Tx) error { return tx.CreateDashboardUser(ctx, stray) }); !errors.Is(err, storage.ErrForeignKey) {
		t.Errorf("grant to a missing store: %v, want ErrForeignKey", err)
	}
	if _, err := db.GetDashboardUser(ctx, stray.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the failed creation left a user behind: %v", err)
	}

	locked := base.Add(time.Hour)
	alice.FailedLogins, alice.LockedUntil, alice.PasswordHash, alice.TOTPSecret = 5, &locked, "$argon2id$new", nil
	inTx(t, db, func(tx storage.Tx) error {
		if err := tx.UpdateDashboardUser(ctx, alice); err != nil {
			return err
		}
		return tx.PutDashboardGrant(ctx, alice.ID, storage.DashboardGrant{StoreID: st.ID, Role: storage.RoleOwner})
	})
	got, err := db.GetDashboardUser(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.FailedLogins != 5 || got.LockedUntil == nil || !got.LockedUntil.Equal(us(locked)) || got.PasswordHash != "$argon2id$new" ||
		got.TOTPSecret != nil || len(got.Grants) != 1 || got.Grants[0].Role != storage.RoleOwner {
		t.Errorf("after update: %+v", got)
	}
	if all, err := db.ListDashboardUsers(ctx); err != nil || len(all) != 1 || all[0].ID != alice.ID || len(all[0].Grants) != 1 {
		t.Errorf("ListDashboardUsers = %+v, %v", all, err)
	}

	steps := []struct {
		name string
		step int64
		want bool
	}{
		{"first code", 100, true},
		{"same code again", 100, false},
		{"older code", 99, false},
		{"next code", 101, true},
	}
	for _, tc := range steps {
		var ok bool
		inTx(t, db, func(tx storage.Tx) (err error) { ok, err = tx.AdvanceTOTPStep(ctx, alice.ID, tc.step); return err })
		if ok != tc.want {
			t.Errorf("%s: accepted %v, want %v", tc.name, ok, tc.want)
		}
	}

	// Two concurrent requests with the same code: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 4 {
		wg.Go(func() {
			var ok bool
			err := db.InTx(ctx, func(tx storage.Tx) (err error) { ok, err = tx.AdvanceTOTPStep(ctx, alice.ID, 200); return err })
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("concurrent AdvanceTOTPStep: %v", err)
			}
			if ok {
				wins++
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("a TOTP step was accepted %d times by concurrent requests, want once", wins)
	}
}

// testDashboardSessions checks sessions: stored by token hash, updated,
// ended one by one, per user, and by expiry.
func testDashboardSessions(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	u := newDashboardUser("carol@example.com")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateDashboardUser(ctx, u) })
	mk := func(tag byte, seen, expires time.Time) *storage.DashboardSession {
		return &storage.DashboardSession{TokenHash: []byte{tag, 1, 2, 3}, UserID: u.ID, Stage: storage.SessionSecondFactor,
			CreatedAt: base, LastSeenAt: seen, ExpiresAt: expires}
	}
	fresh := mk(1, base.Add(time.Hour), base.Add(12*time.Hour))
	idle := mk(2, base, base.Add(12*time.Hour))
	old := mk(3, base.Add(time.Hour), base.Add(30*time.Minute))
	inTx(t, db, func(tx storage.Tx) error {
		for _, s := range []*storage.DashboardSession{fresh, idle, old} {
			if err := tx.CreateDashboardSession(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	fresh.Stage, fresh.LastSeenAt = storage.SessionSignedIn, base.Add(2*time.Hour)
	inTx(t, db, func(tx storage.Tx) error { return tx.UpdateDashboardSession(ctx, fresh) })
	got, err := db.GetDashboardSession(ctx, fresh.TokenHash)
	if err != nil || got.Stage != storage.SessionSignedIn || !got.LastSeenAt.Equal(us(fresh.LastSeenAt)) || got.UserID != u.ID {
		t.Fatalf("GetDashboardSession = %+v, %v", got, err)
	}
	var n int64
	inTx(t, db, func(tx storage.Tx) (err error) {
		n, err = tx.DeleteExpiredDashboardSessions(ctx, base.Add(time.Hour), base.Add(30*time.Minute))
		return err
	})
	if n != 2 {
		t.Errorf("expired sessions removed: %d, want 2 (one idle, one past its absolute limit)", n)
	}
	if _, err := db.GetDashboardSession(ctx, fresh.TokenHash); err != nil {
		t.Errorf("the live session went too: %v", err)
	}
	inTx(t, db, func(tx storage.Tx) (err error) { n, err = tx.DeleteDashboardSessions(ctx, u.ID); return err })
	if _, err := db.GetDashboardSession(ctx, fresh.TokenHash); !errors.Is(err, storage.ErrNotFound) || n != 1 {
		t.Errorf("after ending the user's sessions: %d ended, lookup %v", n, err)
	}
	inTx(t, db, func(tx storage.Tx) error { return tx.DeleteDashboardSession(ctx, fresh.TokenHash) }) // twice is fine
}
