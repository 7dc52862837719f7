package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/webhooksig"
)

// BenchmarkDelivery measures deliveries per second from a pending
// delivery to a 2xx on a loopback receiver, on each engine, beside bare
// signed POSTs to the same receiver with as many concurrent senders as the
// service has workers, measured right before each engine's run (x-bare is
// the ratio of the two; the machine may be shared and noisy):
//
//	CRYPTOPAY_TEST_POSTGRES_URL=... go test -run '^$' -bench Delivery -benchtime 4000x ./internal/webhook
//
// Two measures per engine. "<engine>" is the deliverer alone: b.N events
// are written first (a backlog, as after a burst or an outage), then the
// clock starts with the service, and stops when the receiver has them all.
// "<engine>-live" writes the events while delivering, four writers with a
// transaction each as the gateway writes them, with the clock over both:
// it is bounded by how fast those writers commit (reported as events/s),
// not only by delivery.
func BenchmarkDelivery(b *testing.B) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r.Body)
		got.Add(1)
	}))
	defer srv.Close()
	const workers = 32

	// bare sends n bare signed POSTs from as many senders as the service
	// has workers and returns their rate.
	bare := func(b *testing.B, n int) float64 {
		body := []byte(`{"id":"evt_x","object":"event","type":"invoice.created","data":{}}`)
		secret, _ := webhooksig.NewSecret()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
		defer client.CloseIdleConnections()
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range workers {
			wg.Go(func() {
				for next.Add(1) <= int64(n) {
					req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
					req.Header.Set(webhooksig.HeaderLegacySignature, webhooksig.Sign(body, secret))
					req.Header.Set(webhooksig.HeaderSignature, webhooksig.SignHeader(body, time.Now(), secret))
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					resp.Body.Close()
				}
			})
		}
		wg.Wait()
		return float64(n) / time.Since(start).Seconds()
	}
	b.Run("baseline-bare-signed-POST", func(b *testing.B) {
		b.ReportMetric(bare(b, b.N), "deliveries/s")
	})
	// write writes n events as the gateway writes them, one transaction
	// each, from four writers.
	write := func(b *testing.B, db storage.DB, st *cryptopay.Store, n int) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for next.Add(1) <= int64(n) {
					writeEvent(b, db, st, cryptopay.EventInvoiceCreated, `{"invoice_id":"inv_x"}`)
				}
			})
		}
		wg.Wait()
	}
	// wait waits until the receiver has n requests (or five minutes).
	wait := func(n int) {
		deadline := time.Now().Add(5 * time.Minute)
		for got.Load() < int64(n) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	for _, e := range []struct {
		name string
		open func(testing.TB) storage.DB
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		b.Run(e.name, func(b *testing.B) {
			db := e.open(b)
			s := newStoppedService(b, db, func(c *Config) { c.Workers = workers; c.PerEndpoint = workers })
			st := createStore(b, db, false)
			if _, _, err := s.CreateEndpoint(b.Context(), Owner{StoreID: st.ID}, EndpointParams{URL: ptr(srv.URL)}); err != nil {
				b.Fatal(err)
			}
			write(b, db, st, b.N)
			// The baseline right before, so the machine's load is the same.
			base := bare(b, b.N)
			got.Store(0)
			b.ResetTimer()
			if err := s.Start(b.Context()); err != nil {
				b.Fatal(err)
			}
			wait(b.N)
			rate := float64(got.Load()) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "deliveries/s")
			b.ReportMetric(base, "bare-POSTs/s")
			b.ReportMetric(rate/base, "x-bare")
		})
		b.Run(e.name+"-live", func(b *testing.B) {
			db := e.open(b)
			s := newService(b, db, func(c *Config) { c.Workers = workers; c.PerEndpoint = workers })
			st := createStore(b, db, false)
			if _, _, err := s.CreateEndpoint(b.Context(), Owner{StoreID: st.ID}, EndpointParams{URL: ptr(srv.URL)}); err != nil {
				b.Fatal(err)
			}
			base := bare(b, b.N)
			got.Store(0)
			b.ResetTimer()
			write(b, db, st, b.N)
			written := b.Elapsed()
			wait(b.N)
			rate := float64(got.Load()) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "deliveries/s")
			b.ReportMetric(base, "bare-POSTs/s")
			b.ReportMetric(rate/base, "x-bare")
			// Events written per second, for telling the cost of writing
			// (the gateway's own transactions) from the cost of delivering.
			b.ReportMetric(float64(b.N)/written.Seconds(), "events/s")
		})
	}
}
