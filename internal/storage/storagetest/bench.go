package storagetest

import (
	"context"
	"fmt"
	"math/big"
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

// ListInvoiceShapes seeds one store with n invoices in SQL (the
// distribution of seedInvoiceCopies: 60 % settled, one in 200 flagged
// held, 5,000 prices, one a minute) and measures one page of each list
// shape the API and the dashboard use, each a sub-benchmark. The
// dashboard's flag and price filters are measured twice: as storage
// serves them now (one index walk for a page of 50), and as the dashboard
// applied them before, in Go over up to ten storage pages of 100
// ("scan-in-go"), the baseline of the same run.
func ListInvoiceShapes(b *testing.B, db storage.DB, n int) {
	ctx := context.Background()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	st := &cryptopay.Store{ID: cryptopay.NewID(cryptopay.PrefixStore, base), Name: "bench", CreatedAt: base,
		DefaultCurrency: "EUR"}
	tmpl := newInvoice(st, 0, "template")
	pay := &cryptopay.Payment{ID: cryptopay.NewID(cryptopay.PrefixPayment, base), InvoiceID: tmpl.ID,
		TxID: "template", Amount: big.NewInt(7), Status: cryptopay.PaymentPending, SeenAt: base}
	err := db.InTx(ctx, func(tx storage.Tx) error {
		if err := tx.CreateStore(ctx, st); err != nil {
			return err
		}
		if err := tx.CreateInvoice(ctx, tmpl); err != nil {
			return err
		}
		return tx.CreatePayment(ctx, pay)
	})
	if err != nil {
		b.Fatal(err)
	}
	seedInvoiceCopies(b, db, tmpl.ID, pay.ID, n, 0)

	deep := cryptopay.FirstIDAt(cryptopay.PrefixInvoice, base.Add(-time.Duration(n/2)*time.Minute))
	// One in 5,000 invoices has this price (12.34 EUR in cents).
	price := []storage.Price{{Amount: big.NewInt(1234), Currencies: []string{"EUR"}}}
	page := func(f storage.InvoiceFilter, limit int, after string) storage.InvoiceFilter {
		f.StoreID, f.Page = st.ID, storage.Page{Limit: limit, StartingAfter: after}
		return f
	}
	one := func(f storage.InvoiceFilter) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				if _, _, err := db.ListInvoices(ctx, f); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	// scanInGo is the dashboard's former way: pages of 100 of the
	// unfiltered list, kept when keep says so, until 50 are found or ten
	// pages were read.
	scanInGo := func(after string, keep func(*cryptopay.Invoice) bool) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				found, cursor := 0, after
				for range 10 {
					got, more, err := db.ListInvoices(ctx, page(storage.InvoiceFilter{}, 100, cursor))
					if err != nil {
						b.Fatal(err)
					}
					for i := range got {
						if keep(&got[i]) {
							found++
						}
					}
					if !more || found >= 50 {
						break
					}
					cursor = got[len(got)-1].ID
				}
			}
		}
	}
	b.Run("api/first-page-100", one(page(storage.InvoiceFilter{}, 100, "")))
	b.Run("api/deep-page-100", one(page(storage.InvoiceFilter{}, 100, deep)))
	b.Run("api/status-invalid-deep-100", one(page(storage.InvoiceFilter{Status: cryptopay.StatusInvalid}, 100, deep)))
	b.Run("api/order-id", one(page(storage.InvoiceFilter{OrderID: fmt.Sprintf("o-%d", n/3)}, 100, "")))
	b.Run("dashboard/flag-held-50", one(page(storage.InvoiceFilter{Flag: cryptopay.FlagHeld}, 50, deep)))
	b.Run("dashboard/flag-held-50/scan-in-go", scanInGo(deep, func(inv *cryptopay.Invoice) bool { return inv.Flags&cryptopay.FlagHeld != 0 }))
	b.Run("dashboard/price-50", one(page(storage.InvoiceFilter{Prices: price}, 50, deep)))
	b.Run("dashboard/price-50/scan-in-go", scanInGo(deep, func(inv *cryptopay.Invoice) bool {
		return inv.Currency == "EUR" && inv.Amount.Cmp(big.NewInt(1234)) == 0
	}))
	b.Run("dashboard/day-settled-50", one(page(storage.InvoiceFilter{Status: cryptopay.StatusSettled,
		CreatedFrom: base.Add(-time.Duration(n/2)*time.Minute - 24*time.Hour), CreatedBefore: base.Add(-time.Duration(n/2) * time.Minute)}, 50, "")))
}

// NewInvoiceWrites measures creating invoices from BareInsertGoroutines
// goroutines at once, each with its invoice.created event and one webhook
// delivery: sub-benchmark "tx" through an InTx callback per invoice (the
// general path), "batched" through CreateNewInvoice. Both report rows/s
// (invoices) beside ns/op, comparable with BareInsertBaseline's.
func NewInvoiceWrites(b *testing.B, db storage.DB) {
	ctx := context.Background()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	st := newStore(b, "bench")
	ep := &cryptopay.WebhookEndpoint{ID: cryptopay.NewID(cryptopay.PrefixEndpoint, time.Now()), StoreID: st.ID,
		URL: "https://shop.example/hooks", Enabled: true, Secret: "plain:c2VjcmV0", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := db.InTx(ctx, func(tx storage.Tx) error {
		if err := tx.CreateStore(ctx, st); err != nil {
			return err
		}
		return tx.CreateWebhookEndpoint(ctx, ep)
	}); err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	write := func(n *storage.NewInvoice) error {
		return db.InTx(ctx, func(tx storage.Tx) error {
			if err := tx.CreateInvoice(ctx, n.Invoice); err != nil {
				return err
			}
			if err := tx.CreateEvent(ctx, n.Event); err != nil {
				return err
			}
			for _, d := range n.Deliveries {
				if err := tx.CreateWebhookDelivery(ctx, d); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for _, path := range []struct {
		name  string
		write func(*storage.NewInvoice) error
	}{{"tx", write}, {"batched", func(n *storage.NewInvoice) error { return db.CreateNewInvoice(ctx, n) }}} {
		b.Run(path.name, func(b *testing.B) {
			b.SetParallelism((BareInsertGoroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(seq.Add(1))
					inv := newInvoice(st, i, fmt.Sprintf("order-%d", i))
					inv.Address = fmt.Sprintf("bcrt1qbench%d", i)
					if err := path.write(newInvoiceWrite(inv, ep)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if s := time.Since(start).Seconds(); s > 0 {
				b.ReportMetric(float64(b.N)/s, "rows/s")
			}
		})
	}
}
