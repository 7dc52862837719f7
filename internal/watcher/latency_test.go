package watcher_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/httpapi"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/postgres"
	"github.com/cryptopay/cryptopay/internal/storage/sqlite"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// BenchmarkDetectionLatency measures, on a real regtest node with btcd's
// push notifications, the time from sendrawtransaction returning to the
// stored invoice.payment_detected event, over b.N payments (run with
// -benchtime 100x for the figure). It reports p50 and p99.
//
//	go test -run '^$' -bench DetectionLatency -benchtime 100x ./internal/watcher
func BenchmarkDetectionLatency(b *testing.B) {
	n := b.N
	h := newHarness(b, testdb.SQLite(b), 101+n)
	h.w = h.newWatcher(time.Second) // pushed wake-ups, polling only as a fallback
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() { defer close(done); h.w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitReady(b, h)

	invs := make([]*cryptopay.Invoice, n)
	for i := range invs {
		invs[i] = h.invoice("lat-"+time.Now().Format("150405.000000000"), "0.001", 0)
	}
	lat := make([]time.Duration, 0, n)
	b.ResetTimer()
	for i := range n {
		if _, _, err := h.wallet.Pay(h.ctx, h.node, invs[i].Address, milliBTC, regtest.Opts{}); err != nil {
			b.Fatal(err)
		}
		sent := time.Now()
		for !hasDetection(b, h, invs[i]) {
			if time.Since(sent) > 10*time.Second {
				b.Fatalf("payment %d not detected within 10s", i)
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(sent))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
}

// loadClients is how many clients create invoices in
// BenchmarkDetectionLatencyUnderLoad (the resilience run's figure).
const loadClients = 32

// BenchmarkDetectionLatencyUnderLoad is BenchmarkDetectionLatency while
// loadClients clients create invoices through the HTTP API without pause,
// on SQLite and (when CRYPTOPAY_TEST_POSTGRES_URL is set) on PostgreSQL:
// the chain path must not queue behind invoice creation. The
// detection is looked for through a second handle on the same database
// that carries none of the load, so the figure is the time until the
// detection is committed, not how long a loaded pool makes a reader wait.
// Beside p50, p99 and max it reports the creation rate the load reached.
//
//	go test -run '^$' -bench DetectionLatencyUnderLoad -benchtime 50x ./internal/watcher
func BenchmarkDetectionLatencyUnderLoad(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "cryptopay.db")
		open := func() storage.DB {
			db, err := sqlite.Open(context.Background(), path, nil)
			return openedForBench(b, db, err)
		}
		benchmarkDetectionUnderLoad(b, open(), open())
	})
	b.Run("postgres", func(b *testing.B) {
		if os.Getenv(testdb.PostgresEnv) == "" {
			b.Skipf("%s is not set", testdb.PostgresEnv)
		}
		url := testdb.PostgresURL(b)
		open := func() storage.DB {
			db, err := postgres.Open(context.Background(), url, nil)
			return openedForBench(b, db, err)
		}
		benchmarkDetectionUnderLoad(b, open(), open())
	})
}

// openedForBench migrates db (a no-op the second time) and closes it at
// cleanup.
func openedForBench(b *testing.B, db storage.DB, err error) storage.DB {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return db
}

// benchmarkDetectionUnderLoad runs the gateway and its watcher on db,
// loads it with invoice creations and measures b.N detections, read
// through observer (another handle on the same database).
func benchmarkDetectionUnderLoad(b *testing.B, db, observer storage.DB) {
	n := b.N
	h := newHarness(b, db, 101+n)
	h.w = h.newWatcher(time.Second)
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() { defer close(done); h.w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitReady(b, h)
	invs := make([]*cryptopay.Invoice, n)
	for i := range invs {
		invs[i] = h.invoice(fmt.Sprintf("lat-%d", i), "0.001", 0)
	}

	// The load comes through the HTTP API, as the shop's would: each
	// creation also authenticates its key and stores its idempotency
	// record.
	ck, err := h.svc.CreateKey(h.ctx, gateway.KeyParams{StoreID: h.key.StoreID, Scopes: []string{"invoices:write"}})
	if err != nil {
		b.Fatal(err)
	}
	api := httptest.NewServer(httpapi.New(httpapi.Config{Service: h.svc}).Handler())
	defer api.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadClients}}
	defer client.CloseIdleConnections()
	var created atomic.Int64
	lctx, stopLoad := context.WithCancel(h.ctx)
	var load sync.WaitGroup
	defer func() { stopLoad(); load.Wait() }()
	for c := range loadClients {
		load.Go(func() {
			for i := 0; lctx.Err() == nil; i++ {
				order := fmt.Sprintf("load-%d-%d", c, i)
				req, err := http.NewRequestWithContext(lctx, http.MethodPost, api.URL+"/v1/invoices",
					strings.NewReader(`{"order_id":"`+order+`","amount":"0.001","currency":"BTC"}`))
				if err != nil {
					b.Error(err)
					return
				}
				req.Header.Set("Authorization", "Bearer "+ck.Secret)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", order)
				resp, err := client.Do(req)
				if err != nil {
					if lctx.Err() == nil {
						b.Errorf("create invoice under load: %v", err)
					}
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					if lctx.Err() == nil {
						b.Errorf("create invoice under load: status %d", resp.StatusCode)
					}
					return
				}
				created.Add(1)
			}
		})
	}
	for created.Load() < 4*loadClients { // the load is running
		if lctx.Err() != nil || b.Failed() {
			b.FailNow()
		}
		time.Sleep(time.Millisecond)
	}

	lat := make([]time.Duration, 0, n)
	from, started := created.Load(), time.Now()
	b.ResetTimer()
	for i := range n {
		if _, _, err := h.wallet.Pay(h.ctx, h.node, invs[i].Address, milliBTC, regtest.Opts{}); err != nil {
			b.Fatal(err)
		}
		sent := time.Now()
		for !storesDetection(b, observer, invs[i]) {
			if time.Since(sent) > 10*time.Second {
				b.Fatalf("payment %d not detected within 10s under load", i)
			}
			time.Sleep(500 * time.Microsecond)
		}
		lat = append(lat, time.Since(sent))
	}
	b.StopTimer()
	rate := float64(created.Load()-from) / time.Since(started).Seconds()
	stopLoad()
	load.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(rate, "creates/s")
}

func hasDetection(tb testing.TB, h *harness, inv *cryptopay.Invoice) bool {
	return storesDetection(tb, h.db, inv)
}

// storesDetection reports whether db holds the invoice's payment_detected
// event.
func storesDetection(tb testing.TB, db storage.Reader, inv *cryptopay.Invoice) bool {
	evs, _, err := db.ListEvents(context.Background(), storage.EventFilter{StoreID: inv.StoreID, InvoiceID: inv.ID,
		Type: cryptopay.EventInvoicePaymentDetected, Page: storage.Page{Limit: 1}})
	if err != nil {
		tb.Fatal(err)
	}
	return len(evs) > 0
}

func waitReady(tb testing.TB, h *harness) {
	deadline := time.Now().Add(20 * time.Second)
	for h.w.Ready() != nil {
		if time.Now().After(deadline) {
			tb.Fatalf("watcher not ready: %v", h.w.Ready())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNodeDownIsNotReady: when the node goes away the watcher reports it
// on Ready (and so on /readyz) and keeps running.
func TestNodeDownIsNotReady(t *testing.T) {
	h := newHarness(t, testdb.SQLite(t), fundBlocks)
	h.w = h.newWatcher(50 * time.Millisecond)
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() { defer close(done); h.w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitReady(t, h)
	if err := h.node.Stop(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for h.w.Ready() == nil {
		if time.Now().After(deadline) {
			t.Fatal("watcher still ready with its node down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("watcher stopped instead of retrying")
	default:
	}
}
