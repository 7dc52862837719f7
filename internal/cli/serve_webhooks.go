package cli

import (
	"context"

	"github.com/cryptopay/cryptopay/internal/webhook"
)

// startWebhooks builds the webhook service on the app's database and
// outbox and starts delivering. It refuses to
// start when River's tables are missing. The returned stop drains
// deliveries in flight for up to the shutdown timeout.
func (a *app) startWebhooks(ctx context.Context) (*webhook.Service, func(), error) {
	kr, err := a.cfg.Keyring()
	if err != nil {
		return nil, nil, err
	}
	wh, err := webhook.New(webhook.Config{DB: a.db, Outbox: a.outbox, Keyring: kr, Auditor: a.svc, Logger: a.log, Version: Version,
		AllowLoopback: a.cfg.WebhookAllowLoopback, OnAttempt: a.metrics.WebhookAttempt})
	if err != nil {
		return nil, nil, err
	}
	if err := wh.Start(ctx); err != nil {
		return nil, nil, err
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
		defer cancel()
		if err := wh.Stop(sctx); err != nil {
			a.log.Warn("webhook delivery stop", "err", err)
		}
	}
	return wh, stop, nil
}

// migrateQueue applies River's migrations (the job queue webhook
// deliveries run on) after the store's own.
func (a *app) migrateQueue(ctx context.Context) error {
	n, err := webhook.Migrate(ctx, a.db)
	if err != nil {
		return err
	}
	if n > 0 {
		a.log.Info("applied job queue migrations", "count", n)
	}
	return nil
}
