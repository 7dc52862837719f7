package gateway

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/postgres"
	"github.com/cryptopay/cryptopay/internal/storage/sqlite"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// twoInstances opens two databases on one store of data, as two gateway
// instances (PostgreSQL) or a gateway and the CLI beside it (SQLite) do,
// and a service on each. The first is migrated.
func twoInstances(t *testing.T, engine string) (a, b *Service) {
	t.Helper()
	ctx := t.Context()
	var open func() (storage.DB, error)
	switch engine {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "cryptopay.db")
		open = func() (storage.DB, error) { return sqlite.Open(ctx, path, nil) }
	case "postgres":
		if os.Getenv(testdb.PostgresEnv) == "" {
			t.Skipf("%s is not set", testdb.PostgresEnv)
		}
		u := testdb.PostgresURL(t)
		open = func() (storage.DB, error) { return postgres.Open(ctx, u, nil) }
	}
	var svcs []*Service
	for range 2 {
		db, err := open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		if len(svcs) == 0 {
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
		}
		svcs = append(svcs, New(Config{DB: db, Outbox: eventsOnly{}}))
	}
	return svcs[0], svcs[1]
}

// refusedWithin authenticates secret on svc until it is refused for
// reason, and fails the test unless that happens within bound of start.
func refusedWithin(t *testing.T, svc *Service, secret string, reason AuthFailure, start time.Time, bound time.Duration) {
	t.Helper()
	ip := netip.MustParseAddr("192.0.2.7")
	for {
		_, err := svc.Authenticate(context.Background(), secret, ip)
		if ae, ok := errors.AsType[*AuthError](err); ok && ae.Reason == reason {
			return
		} else if err != nil && !ok {
			t.Fatal(err)
		}
		if time.Since(start) > bound {
			t.Fatalf("key still accepted %v after the change; the bound is %v", time.Since(start), bound)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKeyChangesReachEveryInstance: API keys are cached by hash, yet a
// revocation or rotation made on one instance is refused on that instance
// at once and on another within KeyCacheTTL (1 s), and a new key works
// everywhere at once.
func TestKeyChangesReachEveryInstance(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.7")
	// The bound the README promises (not KeyCacheTTL, so that a longer
	// cache fails here), plus scheduling slack on a loaded machine.
	const bound = time.Second + 300*time.Millisecond
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := t.Context()
			a, b := twoInstances(t, engine)
			st, err := a.CreateStore(ctx, StoreParams{Name: "shop", Wallets: []WalletParams{{Network: "bitcoin-regtest", AccountKey: regtestVpub(t, 0)}}})
			if err != nil {
				t.Fatal(err)
			}
			newKey := func() *CreatedKey {
				k, err := a.CreateKey(ctx, KeyParams{StoreID: st.ID, Name: "shop", Scopes: []string{"invoices:read"}})
				if err != nil {
					t.Fatal(err)
				}
				return k
			}
			warm := func(secret string) { // both instances hold the key in their caches
				for _, svc := range []*Service{a, b} {
					if _, err := svc.Authenticate(ctx, secret, ip); err != nil {
						t.Fatalf("fresh key refused: %v", err)
					}
				}
			}

			t.Run("revoke", func(t *testing.T) {
				k := newKey()
				warm(k.Secret)
				start := time.Now()
				if _, err := a.RevokeKey(ctx, nil, k.Key.ID); err != nil {
					t.Fatal(err)
				}
				refusedWithin(t, a, k.Secret, AuthRevoked, start, 0) // the instance that revoked: at once
				refusedWithin(t, b, k.Secret, AuthRevoked, start, bound)
			})
			t.Run("rotate", func(t *testing.T) {
				k := newKey()
				warm(k.Secret)
				start := time.Now()
				rotated, err := a.RotateKey(ctx, nil, k.Key.ID, 0) // no overlap: the old key stops now
				if err != nil {
					t.Fatal(err)
				}
				for _, svc := range []*Service{a, b} {
					if _, err := svc.Authenticate(ctx, rotated.Secret, ip); err != nil {
						t.Fatalf("the replacement key is refused: %v", err)
					}
				}
				refusedWithin(t, a, k.Secret, AuthRevoked, start, 0)
				refusedWithin(t, b, k.Secret, AuthRevoked, start, bound)
			})
		})
	}
}
