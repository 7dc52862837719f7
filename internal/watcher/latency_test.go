package watcher_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
	"github.com/cryptopay/cryptopay/internal/storage"
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

func hasDetection(tb testing.TB, h *harness, inv *cryptopay.Invoice) bool {
	evs, _, err := h.db.ListEvents(h.ctx, storage.EventFilter{StoreID: inv.StoreID, InvoiceID: inv.ID,
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
