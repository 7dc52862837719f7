package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/httpapi"
	"github.com/cryptopay/cryptopay/internal/storage"
)

func runServe(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "serve")
	migrate := fs.Bool("migrate", false, "apply pending migrations before serving")
	if err := parse(fs, args); err != nil {
		return err
	}
	openFn := open
	if *migrate {
		openFn = func(ctx context.Context, env Env, _ bool) (*app, error) { return openCreating(ctx, env) }
	}
	a, err := openFn(ctx, env, false)
	if err != nil {
		return err
	}
	defer a.Close()
	if *migrate {
		if _, err := a.db.Migrate(ctx); err != nil {
			return err
		}
	}
	if err := a.db.CheckSchema(ctx); err != nil {
		if errors.Is(err, storage.ErrSchemaOutdated) {
			return fmt.Errorf("%w (or start with `serve --migrate`)", err)
		}
		return err
	}
	if err := checkPolicies(ctx, a.db, a.cfg.Bitcoin.SafetyLimit); err != nil {
		return err
	}
	secWait, err := a.startSecurity(ctx) // live mode needs a key; audit flusher
	if err != nil {
		return err
	}
	defer secWait()
	pctx, stopPprof := context.WithCancel(ctx)
	pprofWait, err := startPprof(pctx, a.cfg.PprofListen) // serve_pprof.go; off by default
	if err != nil {
		stopPprof()
		return err
	}
	defer pprofWait()
	defer stopPprof()
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return err
	}
	return a.serve(ctx, ln)
}

// checkPolicies refuses to serve while a store's confirmation policy
// requires more confirmations than the reorg limit: its invoices could
// never settle (the tracker lets a payment go at the limit).
func checkPolicies(ctx context.Context, db storage.DB, limit int) error {
	stores, err := db.ListStores(ctx)
	if err != nil {
		return err
	}
	for _, st := range stores {
		if err := st.Confirmations.CheckReorgLimit(limit); err != nil {
			return fmt.Errorf("store %s (%s): %s", st.ID, st.Name, cryptopay.ErrorMessage(err))
		}
	}
	return nil
}

// background starts the workers that run beside the API (the chain
// watcher, the invoice clock) and returns the readiness check they add and
// a wait for them to stop once ctx ends.
//
// Each network's invoices have one owner. A watched network's settlement
// loop is its watcher (run by the leader only), which applies time as well
// as chain steps, and only once it has seen the chain up to that time.
// Networks no watcher follows (no node configured, as in a test-mode
// gateway) have no chain to wait for: the time-only loop expires their
// invoices by the wall clock.
func (a *app) background(ctx context.Context) (ready func(context.Context) error, wait func(), err error) {
	btc, err := a.bitcoinWatcher(ctx)
	if err != nil {
		return nil, nil, err
	}
	evms, err := a.evmWatchers(ctx)
	if err != nil {
		return nil, nil, err
	}
	sweepers, err := a.evmSweepers(ctx)
	if err != nil {
		return nil, nil, err
	}
	var wg sync.WaitGroup
	for _, sw := range sweepers {
		wg.Go(func() { _ = sw.Run(ctx) }) // leader-only; never changes invoice state
	}
	unwatched := cryptopay.Networks()
	for _, evm := range evms {
		unwatched = slices.DeleteFunc(unwatched, func(n cryptopay.Network) bool { return n == evm.Network() })
		wg.Go(func() {
			if err := evm.Run(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("evm watcher stopped", "network", evm.Network(), "err", err)
			}
		})
	}
	if btc != nil {
		unwatched = slices.DeleteFunc(unwatched, func(n cryptopay.Network) bool { return n == btc.Network() })
		wg.Go(func() {
			if err := btc.Run(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("bitcoin watcher stopped", "err", err)
			}
		})
		if a.node != nil {
			wg.Go(func() { a.node.run(ctx) })
		}
	}
	ready = func(context.Context) error {
		if btc != nil {
			if err := btc.Ready(); err != nil {
				return &httpapi.NotReady{Public: "bitcoin watcher not ready", Err: err}
			}
		}
		if a.node != nil {
			if err := a.node.ready(); err != nil {
				return &httpapi.NotReady{Public: "bitcoin node not ready", Err: err}
			}
		}
		for _, evm := range evms {
			if err := evm.Ready(); err != nil {
				return &httpapi.NotReady{Public: string(evm.Network()) + " watcher not ready", Err: err}
			}
		}
		return nil
	}
	wg.Go(func() { a.runClock(ctx, unwatched) })
	if a.live != nil {
		a.loadRates(ctx)
		wg.Go(func() { a.live.Run(ctx) }) // in the background, never on a request's path
	}
	wg.Go(func() { a.runRetention(ctx) }) // compliance.go
	return ready, wg.Wait, nil
}

// runClock moves the invoices of unwatched networks that the clock changes
// (expiry, end of the monitoring window) once a second, and prunes expired
// idempotency records hourly.
func (a *app) runClock(ctx context.Context, unwatched []cryptopay.Network) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var pruned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := a.svc.AdvanceDue(ctx, unwatched); err != nil && ctx.Err() == nil {
			a.log.Warn("advance due invoices", "err", err)
		}
		if time.Since(pruned) >= time.Hour {
			pruned = time.Now()
			if _, err := a.svc.PruneIdempotencyRecords(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("prune idempotency records", "err", err)
			}
			if _, err := a.svc.PruneSessions(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("prune dashboard sessions", "err", err)
			}
		}
	}
}

// serve runs the HTTP API on ln until ctx is done, then drains requests in
// flight for up to the shutdown timeout.
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	edge, err := a.openEdge(ctx)
	if err != nil {
		return err
	}
	defer edge.Close()
	stopMetrics, err := a.startMetrics(ctx)
	if err != nil {
		return err
	}
	defer stopMetrics()
	a.alerter = edge.alerter // the chain watcher's alerts reach the operator
	// Stopped before edge.Close (deferred after it), so the last checkpoint
	// reaches the alert webhook; see auditcheckpoint.go.
	defer a.startAuditCheckpoints(ctx)()
	wh, stopWebhooks, err := a.startWebhooks(ctx)
	if err != nil {
		return err
	}
	defer stopWebhooks()
	ready, wait, err := a.background(ctx)
	if err != nil {
		return err
	}
	defer wait()
	defer stop()
	api := httpapi.New(httpapi.Config{Service: a.svc, Webhooks: wh, Logger: a.log, Ready: ready, MaxBodyBytes: a.cfg.MaxBodyBytes, PublicURL: a.cfg.PublicURL,
		TrustedProxies: a.cfg.TrustedProxies, RateLimit: edge.limits, Rates: a.rateStatus(), Dashboard: a.dashboardConfig(wh, edge)})
	srv := &http.Server{
		Handler:           a.withMetrics(api.Handler()),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    httpapi.ServerMaxHeaderBytes, // the API refuses past httpapi.MaxHeaderBytes itself, in JSON
	}
	errc := make(chan error, 2)
	if err := edge.listen(srv, ln, a.cfg.HTTPRedirectListen, errc); err != nil {
		return errors.Join(err, srv.Close())
	}
	a.log.Info("cryptopay listening", "addr", edge.scheme()+ln.Addr().String(), "database", a.db.Engine())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := errors.Join(srv.Shutdown(sctx), edge.shutdown(sctx)); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
