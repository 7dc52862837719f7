package gateway

import (
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

func TestPruneIdempotencyRecords(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		ctx := t.Context()
		now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		svc := New(Config{DB: db, Outbox: eventsOnly{}, Now: func() time.Time { return now }})
		st, err := svc.CreateStore(ctx, StoreParams{Name: "idem", Wallets: []WalletParams{{Network: "bitcoin-regtest", AccountKey: regtestVpub(t, 3)}}})
		if err != nil {
			t.Fatal(err)
		}
		key, err := svc.CreateKey(ctx, KeyParams{StoreID: st.ID, Scopes: []string{"invoices:write"}})
		if err != nil {
			t.Fatal(err)
		}
		for ikey, age := range map[string]time.Duration{"old": IdempotencyRetention + time.Minute, "recent": 25 * time.Hour} {
			rec := &storage.IdempotencyRecord{APIKeyID: key.Key.ID, Key: ikey, Method: "POST", Path: "/v1/invoices",
				RequestHash: []byte{1}, State: storage.IdempotencyDone, Status: 201, Body: []byte("{}"), CreatedAt: now.Add(-age)}
			if err := db.InTx(ctx, func(tx storage.Tx) error { return tx.PutIdempotencyRecord(ctx, rec) }); err != nil {
				t.Fatal(err)
			}
		}
		n, err := svc.PruneIdempotencyRecords(ctx)
		if err != nil || n != 1 {
			t.Fatalf("pruned %d, %v; want only the record past the retention", n, err)
		}
		if _, err := db.GetIdempotencyRecord(ctx, key.Key.ID, "recent"); err != nil {
			t.Fatalf("a record younger than the retention is gone: %v", err)
		}
	})
}
