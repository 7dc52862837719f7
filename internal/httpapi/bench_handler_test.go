package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/metrics"
	"github.com/cryptopay/cryptopay/internal/ratelimit"
)

// BenchmarkCreateInvoiceHandler is POST /v1/invoices through the server's
// whole handler stack in process: serve's metrics middleware, request id,
// panic recovery, proxy handling, security headers, rate limiting (as the
// load benchmark runs serve: only failed authentications limited),
// routing, API key authentication, strict decoding, validation and
// pricing, address derivation, the SQLite insert and the response
// encoding. No sockets: what it measures is the
// gateway's own CPU and allocations per request (plus the database's), so
// -benchmem shows what the request path costs apart from net/http.
//
// The body is the load benchmark's (cmd/cryptopay-bench): an amount in
// BTC, a fresh order id each time. "serial" is one client; "parallel"
// runs benchClients at once, so SQLite's group commit batches their
// inserts as it does under load and ns/op is the cost of one invoice in a
// busy gateway. cpu-ns/op is the process's CPU time per request.
func BenchmarkCreateInvoiceHandler(b *testing.B) {
	for _, mode := range []string{"serial", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b, engine{"sqlite", openSQLite})
			// Rate limits as the load benchmark runs serve: per key and
			// per address off, failed authentications limited (the
			// default), so each request still looks at its address's
			// failure bucket.
			limits := &RateLimit{Limiter: ratelimit.NewMemory(nil),
				AuthFail: ratelimit.Rule{Burst: 10, Interval: 6 * time.Second}}
			h := metrics.New().Middleware(New(Config{Service: e.svc, RateLimit: limits}).Handler())
			var seq atomic.Int64
			run := func(c *benchCreate) {
				if !c.do(h, seq.Add(1)) {
					b.Fatalf("status %d: %s", c.w.code, c.w.body.Bytes())
				}
			}
			run(newBenchCreate(e.secret)) // warm the caches a first request fills
			b.ReportAllocs()
			cpu0 := processCPU()
			b.ResetTimer()
			if mode == "serial" {
				c := newBenchCreate(e.secret)
				for b.Loop() {
					run(c)
				}
			} else {
				b.SetParallelism((benchClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.RunParallel(func(pb *testing.PB) {
					c := newBenchCreate(e.secret)
					for pb.Next() {
						run(c)
					}
				})
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the CPU time the process has used (user and system):
// ns/op is mostly the wait for SQLite's commit, which CPU spent on the
// request path hardly moves on a busy machine; cpu-ns/op counts the CPU
// each request costs the gateway (its database included).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCreate is one client of BenchmarkCreateInvoiceHandler: a request
// and a response writer it reuses, so the allocations counted are the
// server's.
type benchCreate struct {
	req  *http.Request
	body bytes.Reader
	buf  []byte
	w    benchWriter
}

func newBenchCreate(secret string) *benchCreate {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://127.0.0.1:8080/v1/invoices", nil)
	if err != nil {
		panic(err)
	}
	req.RequestURI = "/v1/invoices"
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Go-http-client/1.1")
	req.Header.Set("Accept-Encoding", "gzip")
	return &benchCreate{req: req, w: benchWriter{header: http.Header{}}}
}

// do sends one creation with order id bench-seq and reports whether it
// was answered 201.
func (c *benchCreate) do(h http.Handler, seq int64) bool {
	c.buf = append(c.buf[:0], `{"order_id":"bench-`...)
	c.buf = strconv.AppendInt(c.buf, seq, 10)
	c.buf = append(c.buf, `","amount":"0.0015","currency":"BTC"}`...)
	c.body.Reset(c.buf)
	c.req.Body = readCloser{&c.body}
	c.req.ContentLength = int64(len(c.buf))
	c.w.reset()
	h.ServeHTTP(&c.w, c.req)
	return c.w.code == http.StatusCreated
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// benchWriter is a response writer that keeps the status and body and
// reuses its memory between requests.
type benchWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *benchWriter) reset() {
	clear(w.header)
	w.code = 0
	w.body.Reset()
}

func (w *benchWriter) Header() http.Header { return w.header }

func (w *benchWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(p)
}
