package postgres_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/postgres"
	"github.com/cryptopay/cryptopay/internal/storage/storagetest"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// Each test gets its own schema (testdb.PostgresURL), dropped at cleanup;
// the tests skip when testdb.PostgresEnv is unset.

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.DB { return testdb.OpenPostgres(t) })
}

// TestConcurrentMigrate starts several instances on one empty schema at
// once, as a rolling deploy does: exactly one applies each migration.
func TestConcurrentMigrate(t *testing.T) {
	u := testdb.PostgresURL(t)
	const n = 4
	applied := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			db, err := postgres.Open(t.Context(), u, nil)
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			applied[i], errs[i] = db.Migrate(t.Context())
		})
	}
	wg.Wait()
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		total += applied[i]
	}
	db := testdb.OpenPostgres(t) // a different schema; only for the latest version
	_, latest, err := db.SchemaVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if total != latest {
		t.Errorf("migrations applied %d times in total, want %d", total, latest)
	}
}

func TestOpenBadURL(t *testing.T) {
	for _, u := range []string{"postgres://u:secret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", "::not a url"} {
		db, err := postgres.Open(t.Context(), u, nil)
		if err == nil {
			db.Close()
			t.Fatalf("Open(%q) succeeded", u)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("error %q shows the password", err)
		}
	}
}

func BenchmarkBareInsert(b *testing.B) {
	storagetest.BareInsertBaseline(b, testdb.OpenPostgres(b))
}

func BenchmarkListInvoices100k(b *testing.B) {
	storagetest.ListInvoicesBaseline(b, testdb.OpenPostgres(b), 100_000)
}

// BenchmarkListInvoiceShapes1M: one page of each API and dashboard list
// shape with 1,000,000 invoices in the store (seeding takes a while).
func BenchmarkListInvoiceShapes1M(b *testing.B) {
	storagetest.ListInvoiceShapes(b, testdb.OpenPostgres(b), 1_000_000)
}

func BenchmarkNewInvoiceWrites(b *testing.B) {
	storagetest.NewInvoiceWrites(b, testdb.OpenPostgres(b))
}
