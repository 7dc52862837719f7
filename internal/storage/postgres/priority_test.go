package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/postgres"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// TestPriorityHasOwnConnections: with every ordinary connection held (the
// API under load), ordinary work waits for a connection, while work marked
// storage.WithPriority (the chain path) runs at once on the connections
// reserved for it, both transactions and reads. The connections are held
// directly: ordinary InTx callers share group-committed transactions and
// so never hold the whole pool themselves.
func TestPriorityHasOwnConnections(t *testing.T) {
	db := testdb.Postgres(t)
	ctx := context.Background()
	var conns []*sql.Conn
	for range postgres.MaxConns {
		c, err := db.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := db.ListStores(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ordinary read with the pool exhausted = %v, want it to wait past its deadline", err)
	}

	prio, cancel := context.WithTimeout(storage.WithPriority(ctx), 10*time.Second)
	defer cancel()
	var leaseErr error
	err := db.InTx(prio, func(tx storage.Tx) error {
		_, leaseErr = tx.GetLease(prio, "no such lease")
		return nil
	})
	if err != nil {
		t.Errorf("priority InTx with the ordinary pool exhausted: %v", err)
	}
	if !errors.Is(leaseErr, storage.ErrNotFound) {
		t.Errorf("read in the priority transaction = %v, want ErrNotFound", leaseErr)
	}
	if _, err := db.ListStores(prio); err != nil {
		t.Errorf("priority read with the ordinary pool exhausted: %v", err)
	}
	if _, err := db.AcquireLease(prio, "chain", "instance-a", time.Minute); err != nil {
		t.Errorf("priority lease acquisition with the ordinary pool exhausted: %v", err)
	}
}
