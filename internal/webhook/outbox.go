package webhook

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/sqldb"
)

// Outbox writes events and enqueues their webhook deliveries: Append
// inserts the event and, in the same transaction, a pending delivery (due
// now) per subscribed, enabled endpoint of the event's store and mode; the
// delivery rows are the queue a dispatcher claims from (dispatch.go). So
// an event and its deliveries commit or roll back together, and every
// process that writes events (serve, the watcher, a CLI command)
// queues their deliveries for whichever process works the queue. The
// gateway service and the chain watcher declare the interface they need
// and get an *Outbox through their Config.
//
// Building it touches no database. Safe for concurrent use.
type Outbox struct {
	now func() time.Time
	// wake, when a Service in this process delivers, tells its dispatcher
	// that deliveries were enqueued, so it need not wait for its next poll.
	wake atomic.Pointer[func()]
}

// NewOutbox returns the outbox of db's engine. now stamps deliveries
// (time.Now when nil). It does not fail today; the error is kept for
// engines that need set-up.
func NewOutbox(db storage.DB, now func() time.Time) (*Outbox, error) {
	_ = db
	if now == nil {
		now = time.Now
	}
	return &Outbox{now: now}, nil
}

// Append writes e (tx.CreateEvent, which also assigns its per-invoice
// Sequence) and enqueues its deliveries, all in tx. Test events go only to
// the endpoint that asked for them (SendTest), so Append enqueues none.
func (o *Outbox) Append(ctx context.Context, tx storage.Tx, e *cryptopay.Event) error {
	if err := tx.CreateEvent(ctx, e); err != nil {
		return err
	}
	if e.Type == cryptopay.EventTest {
		return nil
	}
	eps, err := tx.ListWebhookSubscribers(ctx, e.StoreID, e.Livemode, e.Type)
	if err != nil {
		return err
	}
	if eps = live(eps, o.now()); len(eps) == 0 {
		return nil
	}
	body, err := EventPayload(e)
	if err != nil {
		return fmt.Errorf("webhook: event %s: %w", e.ID, err)
	}
	_, err = o.enqueue(ctx, tx, e, body, eps)
	return err
}

// NewInvoice returns the rows a new invoice's creation writes beside it
// (storage.InvoiceCreator): e, its invoice.created event, numbered 1, and
// a pending delivery per subscribed, live endpoint, exactly as Append
// would write them in a transaction. The subscribers are read from r
// (cached, see storage.WebhookReader.ListWebhookSubscribers).
func (o *Outbox) NewInvoice(ctx context.Context, r storage.WebhookReader, inv *cryptopay.Invoice, e *cryptopay.Event) (*storage.NewInvoice, error) {
	if e.Type != cryptopay.EventInvoiceCreated || e.InvoiceID != inv.ID {
		return nil, fmt.Errorf("webhook: event %s is not invoice %s's invoice.created", e.ID, inv.ID)
	}
	e.Sequence = 1 // a new invoice's first event (storage.NewInvoice)
	n := &storage.NewInvoice{Invoice: inv, Event: e}
	eps, err := r.ListWebhookSubscribers(ctx, e.StoreID, e.Livemode, e.Type)
	if err != nil {
		return nil, err
	}
	if eps = live(eps, o.now()); len(eps) == 0 {
		return n, nil
	}
	body, err := EventPayload(e)
	if err != nil {
		return nil, fmt.Errorf("webhook: event %s: %w", e.ID, err)
	}
	n.Deliveries = o.deliveries(e, body, eps)
	return n, nil
}

// Enqueued tells this process's dispatcher that deliveries were
// committed outside Append (NewInvoice's).
func (o *Outbox) Enqueued() {
	if w := o.wake.Load(); w != nil {
		(*w)()
	}
}

// live drops the endpoints that have expired at now (in place): an
// expired endpoint gets no delivery, so a crashed listener's endpoint
// stops receiving by itself.
func live(eps []cryptopay.WebhookEndpoint, now time.Time) []cryptopay.WebhookEndpoint {
	out := eps[:0]
	for _, ep := range eps {
		if !ep.Expired(now) {
			out = append(out, ep)
		}
	}
	return out
}

// enqueue writes a pending delivery per endpoint, due now, in tx.
func (o *Outbox) enqueue(ctx context.Context, tx storage.Tx, e *cryptopay.Event, body []byte, eps []cryptopay.WebhookEndpoint) ([]*cryptopay.WebhookDelivery, error) {
	out := o.deliveries(e, body, eps)
	for _, d := range out {
		if err := tx.CreateWebhookDelivery(ctx, d); err != nil {
			return nil, err
		}
	}
	// A hint only: it fires before tx commits, so a dispatcher that looks
	// too early finds nothing and looks again shortly (dispatch.go).
	if w := o.wake.Load(); w != nil {
		(*w)()
	}
	return out, nil
}

// deliveries are e's pending deliveries to eps, due now.
func (o *Outbox) deliveries(e *cryptopay.Event, body []byte, eps []cryptopay.WebhookEndpoint) []*cryptopay.WebhookDelivery {
	now := o.now().UTC()
	out := make([]*cryptopay.WebhookDelivery, 0, len(eps))
	for _, ep := range eps {
		out = append(out, &cryptopay.WebhookDelivery{
			ID: cryptopay.NewID(cryptopay.PrefixDelivery, now), EndpointID: ep.ID, StoreID: ep.StoreID,
			Livemode: ep.Livemode, EventID: e.ID, EventType: e.Type, Status: cryptopay.DeliveryPending,
			Body: body, CreatedAt: now, UpdatedAt: now, NextAttemptAt: &now,
		})
	}
	return out
}

// secretAAD binds a sealed secret to its column and endpoint, in the form
// the store's key rotation (sqldb.SealAAD) re-seals with.
func secretAAD(column, endpointID string) []byte {
	return sqldb.SealAAD("webhook_endpoints", column, endpointID)
}
