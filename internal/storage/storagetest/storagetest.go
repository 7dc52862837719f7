// Package storagetest is the conformance suite every storage engine runs:
// the same behaviour, checked the same way, on SQLite and PostgreSQL. An
// engine's test calls Run with a function that opens a fresh, unmigrated
// database for one test.
//
// It is test support only; no production code imports it.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cryptopay/cryptopay/internal/storage"
)

// Opener opens a fresh, empty, unmigrated database for one test and
// arranges for it to be closed and removed at the test's cleanup.
type Opener func(t *testing.T) storage.DB

// Run runs the whole suite. Each subtest opens its own database.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"Migrate", testMigrate},
		{"Store", testStore}, {"StoreSettings", testStoreSettings}, {"StoreUpdate", testStoreUpdate},
		{"ReserveAddressIndexes", testReserveAddressIndexes},
		{"ReserveAddressIndexesConcurrent", testReserveAddressIndexesConcurrent},
		{"ReplaceWalletKey", testReplaceWalletKey},
		{"ReplaceWalletKeyConcurrent", testReplaceWalletKeyConcurrent},
		{"WalletKeysBackfill", testWalletKeysBackfill},
		{"APIKey", testAPIKey},
		{"Invoice", testInvoice},
		{"InvoiceConflicts", testInvoiceConflicts},
		{"InvoicePayments", testInvoicePayments},
		{"InvoiceCounts", testInvoiceCounts}, {"ListInvoices", testListInvoices}, {"ListedAsGot", testListedAsGot}, {"ListInvoicesFilters", testListInvoicesFilters}, {"ListInvoicesPlans", testListInvoicesPlans},
		{"NewInvoices", testNewInvoices},
		{"Events", testEvents}, {"EventSequence", testEventSequence}, {"EventSequenceConcurrent", testEventSequenceConcurrent},
		{"Idempotency", testIdempotency}, {"IdempotencyClaimRace", testIdempotencyClaimRace},
		{"Transactions", testTransactions},
		{"ConcurrentTransactions", testConcurrentTransactions},
		{"Audit", testAudit}, {"AuditTamper", testAuditTamper}, {"AuditKeyed", testAuditKeyed}, {"SealedColumns", testSealedColumns}, {"RedactInvoice", testRedactInvoice},
		{"ChainState", testChainState},
		{"ChainPayments", testChainPayments},
		{"ChainWatchAndDue", testChainWatchAndDue},
		{"PaymentAsset", testPaymentAsset}, {"SweepBooks", testSweepBooks},
		{"LockInvoiceSerialises", testLockInvoiceSerialises},
		{"Lease", testLease}, {"LeaseTakeoverWaitsForFencedWrite", testLeaseTakeoverWaitsForFencedWrite}, {"ListenInvoices", testListenInvoices},
		{"AddressFailures", testAddressFailures}, {"BlockedAddresses", testBlockedAddresses}, {"AddressInvoices", testAddressInvoices},
		{"RateSnapshots", testRateSnapshots},
		{"DashboardUsers", testDashboardUsers}, {"DashboardSessions", testDashboardSessions},
		{"KeyScopeUse", testKeyScopeUse}, {"StrictSealing", testStrictSealing}, {"StrictSealingNeedsEveryValue", testStrictSealingNeedsEveryValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// migrated opens a database and migrates it.
func migrated(t *testing.T, open Opener) storage.DB {
	t.Helper()
	db := open(t)
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// base is a time with nanoseconds, in a zone other than UTC, to check that
// engines keep the instant to the microsecond.
var base = time.Date(2026, 11, 1, 12, 30, 45, 123456789, time.FixedZone("CET", 3600))

// us is what an engine returns for t: the same instant to the microsecond.
func us(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

func usp(t time.Time) *time.Time { v := us(t); return &v }

// huge is an amount beyond int64 (and beyond uint64).
func huge(t testing.TB) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString("123456789012345678901234567890", 10)
	if !ok {
		t.Fatal("bad constant")
	}
	return v
}

var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b *big.Int) bool {
		if a == nil || b == nil {
			return a == b
		}
		return a.Cmp(b) == 0
	}),
}

func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got, cmpOpts); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// inTx runs fn in a transaction and fails the test on error.
func inTx(t *testing.T, db storage.DB, fn func(tx storage.Tx) error) {
	t.Helper()
	if err := db.InTx(t.Context(), fn); err != nil {
		t.Fatalf("InTx: %v", err)
	}
}

func wantConflict(t *testing.T, err error, constraint string) {
	t.Helper()
	var ce *storage.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want *ConflictError on %s", err, constraint)
	}
	if ce.Constraint != constraint {
		t.Fatalf("conflict on %q, want %q", ce.Constraint, constraint)
	}
	if strings.Contains(ce.Error(), "UNIQUE") || strings.Contains(ce.Error(), "duplicate key") {
		t.Errorf("conflict message %q leaks engine text", ce.Error())
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("%s: got %v, want ErrNotFound", what, err)
	}
}

// rebind turns ? placeholders into the engine's, for the suite's own raw
// SQL (rows no storage method writes yet, the benchmark table).
func rebind(db storage.DB, q string) string {
	if db.Engine() != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func testMigrate(t *testing.T, open Opener) {
	ctx := t.Context()
	db := open(t)

	current, latest, err := db.SchemaVersion(ctx)
	if err != nil || current != 0 || latest < 1 {
		t.Fatalf("SchemaVersion on empty database = %d, %d, %v; want 0, >=1, nil", current, latest, err)
	}
	if err := db.CheckSchema(ctx); !errors.Is(err, storage.ErrSchemaOutdated) {
		t.Fatalf("CheckSchema on empty database = %v, want ErrSchemaOutdated", err)
	}
	n, err := db.Migrate(ctx)
	if err != nil || n != latest {
		t.Fatalf("Migrate = %d, %v; want %d, nil", n, err, latest)
	}
	if err := db.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema after Migrate = %v", err)
	}
	n, err = db.Migrate(ctx)
	if err != nil || n != 0 {
		t.Fatalf("second Migrate = %d, %v; want 0, nil", n, err)
	}
	if current, _, _ := db.SchemaVersion(ctx); current != latest {
		t.Fatalf("SchemaVersion after Migrate = %d, want %d", current, latest)
	}

	// An outdated schema: forget the last migration was recorded.
	if _, err := db.SQL().ExecContext(ctx, rebind(db, `DELETE FROM schema_migrations WHERE version = ?`), latest); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckSchema(ctx); !errors.Is(err, storage.ErrSchemaOutdated) {
		t.Fatalf("CheckSchema with last migration missing = %v, want ErrSchemaOutdated", err)
	}
	if _, err := db.SQL().ExecContext(ctx, rebind(db, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`), latest); err != nil {
		t.Fatal(err)
	}

	// A newer binary migrated this database.
	if _, err := db.SQL().ExecContext(ctx, rebind(db, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`), latest+1); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckSchema(ctx); !errors.Is(err, storage.ErrSchemaTooNew) {
		t.Fatalf("CheckSchema on newer schema = %v, want ErrSchemaTooNew", err)
	}
	if _, err := db.Migrate(ctx); !errors.Is(err, storage.ErrSchemaTooNew) {
		t.Fatalf("Migrate on newer schema = %v, want ErrSchemaTooNew", err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if e := db.Engine(); e != "sqlite" && e != "postgres" {
		t.Errorf("Engine() = %q", e)
	}
}

func testTransactions(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)

	t.Run("error rolls back", func(t *testing.T) {
		st := newStore(t, "rollback")
		inv := newInvoice(st, 1, "o-rb")
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx storage.Tx) error {
			if err := tx.CreateStore(ctx, st); err != nil {
				return err
			}
			if err := tx.CreateInvoice(ctx, inv); err != nil {
				return err
			}
			// The transaction reads its own writes.
			if _, err := tx.GetInvoice(ctx, inv.ID); err != nil {
				return fmt.Errorf("read own write: %w", err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want the callback's error", err)
		}
		_, err = db.GetStore(ctx, st.ID)
		wantNotFound(t, "store after rollback", err)
		_, err = db.GetInvoice(ctx, inv.ID)
		wantNotFound(t, "invoice after rollback", err)
	})

	t.Run("panic rolls back", func(t *testing.T) {
		st := newStore(t, "panic")
		func() {
			defer func() {
				if recover() == nil {
					t.Error("panic did not propagate")
				}
			}()
			_ = db.InTx(ctx, func(tx storage.Tx) error {
				if err := tx.CreateStore(ctx, st); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		_, err := db.GetStore(ctx, st.ID)
		wantNotFound(t, "store after panic", err)
		// The writer is usable again.
		inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })
	})

	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		st := newStore(t, "cancel")
		err := db.InTx(cctx, func(tx storage.Tx) error { return tx.CreateStore(cctx, st) })
		if err == nil {
			t.Fatal("InTx with a cancelled context succeeded")
		}
		_, err = db.GetStore(ctx, st.ID)
		wantNotFound(t, "store after cancelled InTx", err)
	})
}

// errRollback makes InTx roll back in tests that want it to.
var errRollback = errors.New("roll back")
