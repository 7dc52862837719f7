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

// BenchmarkDelivery measures deliveries per second from event to a 2xx on
// a loopback receiver, on each engine, beside a same-run baseline of bare
// signed POSTs to the same receiver with as many concurrent senders as the
// engine has workers:
//
//	CRYPTOPAY_TEST_POSTGRES_URL=... go test -run '^$' -bench Delivery -benchtime 2000x ./internal/webhook
func BenchmarkDelivery(b *testing.B) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r.Body)
		got.Add(1)
	}))
	defer srv.Close()
	const workers = 32

	b.Run("baseline-bare-signed-POST", func(b *testing.B) {
		got.Store(0)
		body := []byte(`{"id":"evt_x","object":"event","type":"invoice.created","data":{}}`)
		secret, _ := webhooksig.NewSecret()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		for range workers {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
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
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	})
	for _, e := range []struct {
		name string
		open func(testing.TB) storage.DB
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		b.Run(e.name, func(b *testing.B) {
			db := e.open(b)
			s := newService(b, db, func(c *Config) { c.Workers = workers; c.PerEndpoint = workers })
			st := createStore(b, db, false)
			if _, _, err := s.CreateEndpoint(b.Context(), Owner{StoreID: st.ID}, EndpointParams{URL: ptr(srv.URL)}); err != nil {
				b.Fatal(err)
			}
			got.Store(0)
			b.ResetTimer()
			// Events are written as the gateway writes them, one
			// transaction each, from several writers.
			var next atomic.Int64
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						writeEvent(b, db, st, cryptopay.EventInvoiceCreated, `{"invoice_id":"inv_x"}`)
					}
				})
			}
			wg.Wait()
			written := b.Elapsed()
			deadline := time.Now().Add(5 * time.Minute)
			for got.Load() < int64(b.N) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			b.ReportMetric(float64(got.Load())/b.Elapsed().Seconds(), "deliveries/s")
			// Events written per second, for telling the cost of writing
			// (the gateway's own transactions) from the cost of delivering.
			b.ReportMetric(float64(b.N)/written.Seconds(), "events/s")
		})
	}
}
