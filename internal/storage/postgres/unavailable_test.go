package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/postgres"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// TestServerDroppedConnections: when the server ends every connection of
// the pool (as a restart does), a query answers storage.ErrUnavailable (not
// an unclassified error), and the pool recovers at once rather than failing
// once per dead connection (pgx checks a pooled connection idle for over a
// second before reuse, and drops one it finds closed).
func TestServerDroppedConnections(t *testing.T) {
	u, err := url.Parse(testdb.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", "cp_dropped_conns")
	u.RawQuery = q.Encode()
	ctx := t.Context()
	db, err := postgres.Open(ctx, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Fill the pool with idle connections.
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { _, _ = db.ReadSQL().ExecContext(ctx, `SELECT pg_sleep(0.05)`) })
	}
	wg.Wait()
	admin, err := sql.Open("pgx", os.Getenv(testdb.PostgresEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'cp_dropped_conns'`).Scan(&n); err != nil || n < 2 {
		t.Fatalf("terminated %d connections: %v", n, err)
	}
	failures := 0
	for range 5 {
		_, err := db.ListStores(context.Background())
		if err == nil {
			break
		}
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("query on a dropped connection: %v; want ErrUnavailable", err)
		}
		failures++
	}
	if failures > 1 {
		t.Errorf("%d queries failed after the server dropped %d pooled connections; want at most 1", failures, n)
	}
}
