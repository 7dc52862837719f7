package storagetest

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// BareInsertGoroutines is how many goroutines BareInsertBaseline runs.
const BareInsertGoroutines = 32

// BareInsertBaseline measures the engine's floor for one durable write:
// each operation is one transaction holding one INSERT of a small row into
// a scratch table, from BareInsertGoroutines goroutines at once, through
// db.SQL(). On SQLite this is bound by one fsync per commit. It reports
// rows/s beside ns/op so invoice creation through the API can be compared
// against it.
func BareInsertBaseline(b *testing.B, db storage.DB) {
	ctx := context.Background()
	h := db.SQL()
	if _, err := h.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS bench_bare (
		id TEXT PRIMARY KEY, n BIGINT NOT NULL, created_at BIGINT NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	insert := rebind(db, `INSERT INTO bench_bare (id, n, created_at) VALUES (?, ?, ?)`)
	var seq atomic.Int64
	b.SetParallelism((BareInsertGoroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := time.Now()
			tx, err := h.BeginTx(ctx, nil)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := tx.ExecContext(ctx, insert, cryptopay.NewID("bch", now), seq.Add(1), now.UnixMicro()); err != nil {
				_ = tx.Rollback()
				b.Error(err)
				return
			}
			if err := tx.Commit(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if s := time.Since(start).Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "rows/s")
	}
}

// ListInvoicesBaseline seeds one store with n invoices through the storage
// API (statuses cycling through the five states), then measures one page
// of 50 with a status filter, starting after a cursor in the middle of the
// list: the API's deepest common query. With the (store_id, livemode,
// status, id DESC) index its cost does not grow with n.
func ListInvoicesBaseline(b *testing.B, db storage.DB, n int) {
	ctx := context.Background()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	st := &cryptopay.Store{ID: cryptopay.NewID(cryptopay.PrefixStore, base), Name: "bench", CreatedAt: base}
	statuses := []cryptopay.Status{cryptopay.StatusNew, cryptopay.StatusProcessing,
		cryptopay.StatusSettled, cryptopay.StatusExpired, cryptopay.StatusInvalid}
	ids := make([]string, 0, n)
	const batch = 5000
	for i := 0; i < n; i += batch {
		err := db.InTx(ctx, func(tx storage.Tx) error {
			if i == 0 {
				if err := tx.CreateStore(ctx, st); err != nil {
					return err
				}
			}
			for j := i; j < min(i+batch, n); j++ {
				inv := newInvoice(st, j, "")
				inv.Status = statuses[j%len(statuses)]
				if err := tx.CreateInvoice(ctx, inv); err != nil {
					return err
				}
				ids = append(ids, inv.ID)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	f := storage.InvoiceFilter{StoreID: st.ID, Status: cryptopay.StatusSettled,
		Page: storage.Page{Limit: 50, StartingAfter: ids[n/2]}}
	b.ResetTimer()
	for b.Loop() {
		got, more, err := db.ListInvoices(ctx, f)
		if err != nil || len(got) != 50 || !more {
			b.Fatalf("ListInvoices = %d, %v, %v", len(got), more, err)
		}
	}
}
