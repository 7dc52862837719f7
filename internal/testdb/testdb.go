// Package testdb opens real databases for tests of packages above the
// storage layer: SQLite in a temporary directory always, PostgreSQL in a
// fresh schema when CRYPTOPAY_TEST_POSTGRES_URL is set. Databases come back
// migrated (OpenSQLite and OpenPostgres: empty, for tests of migration and
// of the storage engines themselves) and are closed (and the schema
// dropped) at test cleanup, where a failing Close fails the test.
//
// It is for tests only; no production code imports it.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the admin connection that creates schemas

	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/postgres"
	"github.com/cryptopay/cryptopay/internal/storage/sqlite"
)

// PostgresEnv names the PostgreSQL server the tests use.
const PostgresEnv = "CRYPTOPAY_TEST_POSTGRES_URL"

// Engine opens one kind of database.
type Engine struct {
	Name string
	Open func(tb testing.TB) storage.DB
}

// Engines returns SQLite, and PostgreSQL when PostgresEnv is set.
func Engines() []Engine {
	out := []Engine{{"sqlite", SQLite}}
	if os.Getenv(PostgresEnv) != "" {
		out = append(out, Engine{"postgres", Postgres})
	}
	return out
}

// Each runs f as a subtest on every engine.
func Each(t *testing.T, f func(t *testing.T, db storage.DB)) {
	for _, e := range Engines() {
		t.Run(e.Name, func(t *testing.T) { f(t, e.Open(t)) })
	}
}

// SQLite returns a migrated SQLite database in a temporary directory.
func SQLite(tb testing.TB) storage.DB {
	tb.Helper()
	return migrated(tb, OpenSQLite(tb))
}

// OpenSQLite returns an empty, unmigrated SQLite database in a temporary
// directory.
func OpenSQLite(tb testing.TB) storage.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "cryptopay.db"), nil)
	return opened(tb, db, err)
}

// opened fails the test if opening failed, else closes db when the test
// ends and returns it. Registered after PostgresURL's cleanup, the close
// runs before the schema is dropped.
func opened(tb testing.TB, db storage.DB, err error) storage.DB {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close database: %v", err)
		}
	})
	return db
}

// PostgresURL creates an empty schema and returns a URL whose connections
// use it; the schema is dropped at cleanup. It skips the test when
// PostgresEnv is unset.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		tb.Skipf("%s is not set", PostgresEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "cptest_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Postgres returns a migrated PostgreSQL database in a fresh schema. It
// skips the test when PostgresEnv is unset.
func Postgres(tb testing.TB) storage.DB {
	tb.Helper()
	return migrated(tb, OpenPostgres(tb))
}

// OpenPostgres returns an empty, unmigrated PostgreSQL database in a fresh
// schema. It skips the test when PostgresEnv is unset.
func OpenPostgres(tb testing.TB) storage.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), PostgresURL(tb), nil)
	return opened(tb, db, err)
}

// migrated applies every migration to db and returns it.
func migrated(tb testing.TB, db storage.DB) storage.DB {
	tb.Helper()
	if _, err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return db
}
