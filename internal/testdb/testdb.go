// Package testdb opens real databases for tests of packages above the
// storage layer: SQLite in a temporary directory always, PostgreSQL in a
// fresh schema when CRYPTOPAY_TEST_POSTGRES_URL is set. Databases come back
// migrated and are closed (and the schema dropped) at test cleanup.
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
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "cryptopay.db"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	migrate(tb, db)
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

// Postgres returns a migrated PostgreSQL database in a fresh schema.
func Postgres(tb testing.TB) storage.DB {
	tb.Helper()
	u := PostgresURL(tb)
	db, err := postgres.Open(context.Background(), u, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() }) // runs before the schema drop
	migrate(tb, db)
	return db
}

func migrate(tb testing.TB, db storage.DB) {
	tb.Helper()
	if _, err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
}
