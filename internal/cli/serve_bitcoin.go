package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/alert"
	"github.com/cryptopay/cryptopay/internal/bitcoin/btcsource"
	"github.com/cryptopay/cryptopay/internal/watcher"
)

// bitcoinWatcher builds the Bitcoin chain watcher from the configuration,
// or returns nil when no node is configured. It checks that the node
// serves the configured network before anything is credited from it.
func (a *app) bitcoinWatcher(ctx context.Context) (*watcher.Watcher, error) {
	bc := a.cfg.Bitcoin
	client, network, err := a.newBitcoinClient(a.metrics)
	if err != nil {
		return nil, err
	}
	if client == nil {
		a.log.Warn("no Bitcoin node configured (CRYPTOPAY_BITCOIN_RPC_URL): invoices are created but no payment is seen")
		return nil, nil
	}
	if err := client.CheckNetwork(ctx); err != nil {
		return nil, fmt.Errorf("bitcoin node at CRYPTOPAY_BITCOIN_RPC_URL: %w", err)
	}
	a.node = &nodeMonitor{client: client, network: network, db: a.db, metrics: a.metrics}
	w := watcher.New(watcher.Config{
		DB:           a.db,
		Outbox:       a.outbox,
		Source:       btcsource.New(client, network),
		Logger:       a.log,
		PollInterval: bc.PollInterval,
		SafetyLimit:  bc.SafetyLimit,
		LeaseTTL:     bc.LeaseTTL,
		Alert:        a.alert,
		Monitor:      a.cfg.Monitor,
		Rates:        a.rates, // values high-value alerts

		OnPaymentDetected: func(d time.Duration) { a.metrics.PaymentDetected(string(network), d) },
		OnProcessed:       func(h int64) { a.metrics.ChainProcessed(string(network), h) },
	})
	// An invoice made here reaches this instance's watcher at once; one
	// made on another instance reaches the leader through the database
	// (PostgreSQL NOTIFY, with polling as the fallback). Only the holder
	// of the network's lease watches; the others stand by (watcher/lead.go).
	a.svc.OnInvoiceCreated(func(inv *cryptopay.Invoice) {
		if inv.Network == network {
			w.Watch(inv.Address, inv.MonitorUntil)
		}
	})
	return w, nil
}

// alert reports what an operator must see at once: through the alerter
// (logged at ERROR and posted to CRYPTOPAY_ALERT_WEBHOOK_URL) once serve
// has opened it, else only logged.
func (a *app) alert(ctx context.Context, title, text string) {
	if a.alerter == nil {
		a.log.ErrorContext(ctx, "ALERT: "+title, "detail", text)
		return
	}
	a.alerter.Alert(ctx, alert.Alert{Severity: alert.Critical, Title: title, Text: text})
}
