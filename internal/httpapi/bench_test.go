package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/client"
	"github.com/cryptopay/cryptopay/internal/storage/storagetest"
)

// benchClients is how many clients create invoices at once, as a busy
// shop's checkout would.
const benchClients = 32

// apiRate keeps the last invoices/s per engine so the baseline benchmark,
// which runs after it, can report the ratio of the two.
var apiRate sync.Map // engine name → float64

// BenchmarkCreateInvoice creates invoices through the real HTTP API
// (authentication, strict decoding, validation, pricing, address derivation
// and the insert of the invoice with its event) from benchClients
// concurrent clients, and reports throughput and latency percentiles.
func BenchmarkCreateInvoice(b *testing.B) {
	for _, eng := range engines() {
		b.Run(eng.name, func(b *testing.B) {
			e := newEnv(b, eng)
			tr := e.srv.Client().Transport.(*http.Transport).Clone()
			tr.MaxIdleConnsPerHost = benchClients * 2 // reuse connections instead of exhausting ports
			e.httpc = &http.Client{Transport: tr}
			c := e.client(e.secret)
			ctx := context.Background()
			var seq atomic.Int64
			var mu sync.Mutex
			var lat []time.Duration
			b.SetParallelism((benchClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					t0 := time.Now()
					_, err := c.CreateInvoice(ctx, client.InvoiceParams{
						OrderID: fmt.Sprintf("bench-%d", seq.Add(1)), Amount: "25.00", Currency: "USD",
					})
					if err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if len(lat) == 0 {
				return
			}
			slices.Sort(lat)
			rate := float64(len(lat)) / elapsed.Seconds()
			apiRate.Store(eng.name, rate)
			b.ReportMetric(rate, "invoices/s")
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkBareInsertBaseline is the storage engine's floor for one durable
// write (one single-row INSERT per transaction, 32 goroutines), from the
// conformance package, on the same machine in the same run. When
// BenchmarkCreateInvoice ran first it also reports the API's throughput as
// a percentage of this floor.
func BenchmarkBareInsertBaseline(b *testing.B) {
	for _, eng := range engines() {
		b.Run(eng.name, func(b *testing.B) {
			db := eng.open(b)
			start := time.Now()
			storagetest.BareInsertBaseline(b, db)
			bare := float64(b.N) / time.Since(start).Seconds()
			if api, ok := apiRate.Load(eng.name); ok && bare > 0 {
				b.ReportMetric(100*api.(float64)/bare, "api-%-of-bare")
			}
		})
	}
}

// BenchmarkListInvoicesPage reads one page of 100 invoices through the
// real HTTP API, one client at a time: storage scan, the service's
// decryption of customer fields, rendering and the JSON encoding, so
// -benchmem shows the CPU and allocations a list page costs end to end.
func BenchmarkListInvoicesPage(b *testing.B) {
	for _, eng := range engines() {
		b.Run(eng.name, func(b *testing.B) {
			e := newEnv(b, eng)
			c := e.client(e.secret)
			ctx := context.Background()
			for i := range 101 {
				_, err := c.CreateInvoice(ctx, client.InvoiceParams{
					OrderID: fmt.Sprintf("bench-%d", i), Amount: "25.00", Currency: "USD",
					CustomerReference: fmt.Sprintf("cust-%d <é>", i),
					Metadata:          map[string]string{"sku": fmt.Sprintf("A-%d", i), "note": "café & \"co\""},
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/invoices?limit=100", nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+e.secret)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				resp, err := e.httpc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || n < 100*500 {
					b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
				}
			}
		})
	}
}
