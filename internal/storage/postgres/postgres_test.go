package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/postgres"
	"github.com/cryptopay/cryptopay/internal/storage/storagetest"
)

// urlEnv names the database the tests use; they skip when it is unset.
// Each test gets its own schema, dropped at cleanup.
const urlEnv = "CRYPTOPAY_TEST_POSTGRES_URL"

// freshSchema creates an empty schema and returns a URL whose connections
// use it (search_path as a runtime parameter).
func freshSchema(t testing.TB) string {
	t.Helper()
	base := os.Getenv(urlEnv)
	if base == "" {
		t.Skipf("%s is not set", urlEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	b := make([]byte, 6)
	rand.Read(b)
	schema := "cptest_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// t.Context is done by now; the schema must still go.
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t testing.TB) storage.DB {
	t.Helper()
	u := freshSchema(t)
	db, err := postgres.Open(t.Context(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Registered after freshSchema's cleanup, so it runs before the drop.
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.DB { return open(t) })
}

// TestConcurrentMigrate starts several instances on one empty schema at
// once, as a rolling deploy does: exactly one applies each migration.
func TestConcurrentMigrate(t *testing.T) {
	u := freshSchema(t)
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
	db := open(t) // a different schema; only for the latest version
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
	db := open(b)
	storagetest.BareInsertBaseline(b, db)
}

func BenchmarkListInvoices100k(b *testing.B) {
	storagetest.ListInvoicesBaseline(b, open(b), 100_000)
}
