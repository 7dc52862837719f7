package gateway

import (
	"context"
	"go/build"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// eventsOnly writes events and queues no deliveries. The tests of this
// package are about the service's own rules and none of their stores has a
// webhook endpoint; the webhook outbox cannot be used here (it imports
// this package). The service with the real outbox is tested in
// internal/httpapi, internal/webhook and internal/cli.
type eventsOnly struct{}

func (eventsOnly) Append(ctx context.Context, tx storage.Tx, e *cryptopay.Event) error {
	return tx.CreateEvent(ctx, e)
}

// NewInvoice makes eventsOnly a newInvoiceOutbox, so the tests of this
// package create invoices the way the real outbox lets the service:
// batched (insertNewInvoice), the general path when that declines.
func (eventsOnly) NewInvoice(_ context.Context, _ storage.WebhookReader, inv *cryptopay.Invoice, e *cryptopay.Event) (*storage.NewInvoice, error) {
	return &storage.NewInvoice{Invoice: inv, Event: e}, nil
}

func (eventsOnly) Enqueued() {}

// TestNewRefusesAServiceWithoutAnOutbox: a service built without an outbox
// would write events whose deliveries nobody queues; it is refused at
// construction, not discovered when a shop misses its webhooks.
func TestNewRefusesAServiceWithoutAnOutbox(t *testing.T) {
	defer func() {
		r := recover()
		msg, _ := r.(string)
		if !strings.Contains(msg, "Outbox is required") {
			t.Fatalf("New without an outbox: recovered %v; want a panic naming Config.Outbox", r)
		}
	}()
	New(Config{DB: testdb.SQLite(t)})
	t.Fatal("New without an outbox returned a service")
}

// TestServiceImportsNoJobQueue: the service reaches webhooks only through
// the Outbox it declares; it imports neither the webhook package nor the
// job queue.
func TestServiceImportsNoJobQueue(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if imp == "github.com/cryptopay/cryptopay/internal/webhook" || strings.HasPrefix(imp, "github.com/riverqueue/") {
			t.Errorf("the gateway service imports %s", imp)
		}
	}
}
