package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/cryptopay/cryptopay/internal/httpapi"
	"github.com/cryptopay/cryptopay/internal/storage"
)

func runServe(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "serve")
	migrate := fs.Bool("migrate", false, "apply pending migrations before serving")
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := open(ctx, env, false)
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
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return err
	}
	return a.serve(ctx, ln)
}

// serve runs the HTTP API on ln until ctx is done, then drains requests in
// flight for up to the shutdown timeout.
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	api := httpapi.New(httpapi.Config{Service: a.svc, Logger: a.log})
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("cryptopay listening", "addr", "http://"+ln.Addr().String(), "database", a.db.Engine())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
