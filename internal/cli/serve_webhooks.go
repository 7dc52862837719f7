package cli

import (
	"context"

	"github.com/cryptopay/cryptopay/internal/webhook"
)

// startWebhooks builds the webhook service on the app's database and
// outbox and starts delivering. The returned stop drains
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
