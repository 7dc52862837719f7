package cli

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay/internal/metrics"
)

// startMetrics builds serve's metrics (a.metrics), hooks them to the
// database, and starts the admin listener when CRYPTOPAY_ADMIN_ADDR is
// set. The returned stop closes that listener.
func (a *app) startMetrics(ctx context.Context) (stop func(), err error) {
	m := metrics.New()
	if err := m.Register(metrics.NewDBCollector(a.db.SQL(), a.db.Engine())); err != nil {
		return nil, err
	}
	if o, ok := a.db.(interface {
		ObserveBatches(func(size int, priority bool))
	}); ok {
		o.ObserveBatches(m.GroupCommitBatch)
	}
	a.metrics = m
	if a.cfg.AdminAddr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", a.cfg.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("CRYPTOPAY_ADMIN_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("admin listener stopped", "err", err)
		}
	}()
	a.log.Info("admin listener serving /metrics", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

// withMetrics counts the API's refusals and, when CRYPTOPAY_METRICS_TOKEN
// is set, serves GET /metrics on the API listener to requests bearing it
// (anything else on /metrics gets the API's own 404, so the path reveals
// nothing without the token).
func (a *app) withMetrics(api http.Handler) http.Handler {
	counted := a.metrics.Middleware(api)
	token := a.cfg.MetricsToken
	if token == "" || a.metrics == nil {
		return counted
	}
	scrape := a.metrics.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" && r.Method == http.MethodGet && bearerIs(r, token) {
			scrape.ServeHTTP(w, r)
			return
		}
		counted.ServeHTTP(w, r)
	})
}

// bearerIs compares the request's bearer token with token in constant time.
func bearerIs(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}
