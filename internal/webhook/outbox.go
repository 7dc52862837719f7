package webhook

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/sqldb"
)

// sqlTxer is how the outbox reaches the *sql.Tx under a storage.Tx so
// River's InsertManyTx joins the same transaction. sqldb.Tx implements it;
// the storage interface stays free of database/sql transaction details.
type sqlTxer interface {
	SQLTx() *sql.Tx
}

// deliverArgs is the River job of one delivery. It carries only ids: the
// body and the endpoint are read fresh when the job runs, so a disabled or
// deleted endpoint is honoured and a rotated secret is used.
type deliverArgs struct {
	DeliveryID string `json:"delivery_id"`
	EndpointID string `json:"endpoint_id"`
}

func (deliverArgs) Kind() string { return "cryptopay_webhook_delivery" }

// jobOpts: snoozes (retries and per-endpoint waits) do not count as
// attempts in River, and the retry window ends a delivery, so River's own
// attempt limit only bounds jobs that keep failing inside the gateway
// (database errors), with River's default backoff.
var jobOpts = &river.InsertOpts{Queue: queueName, MaxAttempts: 25}

// Outbox writes events and enqueues their webhook deliveries: Append
// inserts the event and, in the same transaction, a pending delivery and
// its River job per subscribed, enabled endpoint of the event's store and
// mode. So an event and its deliveries commit or roll back together, and
// every process that writes events (serve, the watcher, a CLI command)
// queues their deliveries for whichever process works the queue. The
// gateway service and the chain watcher declare the interface they need
// and get an *Outbox through their Config.
//
// It holds an insert-only River client: building it touches no database,
// and it works nothing. Safe for concurrent use.
type Outbox struct {
	river *river.Client[*sql.Tx]
	now   func() time.Time
}

// NewOutbox returns the outbox of db's engine. now stamps deliveries
// (time.Now when nil).
func NewOutbox(db storage.DB, now func() time.Time) (*Outbox, error) {
	rc, err := river.NewClient(driver(db), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("webhook: outbox river client: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Outbox{river: rc, now: now}, nil
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

// enqueue writes a pending delivery per endpoint and its job, in tx.
func (o *Outbox) enqueue(ctx context.Context, tx storage.Tx, e *cryptopay.Event, body []byte, eps []cryptopay.WebhookEndpoint) ([]*cryptopay.WebhookDelivery, error) {
	st, ok := tx.(sqlTxer)
	if !ok {
		return nil, fmt.Errorf("webhook: transaction %T does not expose *sql.Tx", tx)
	}
	now := o.now().UTC()
	out := make([]*cryptopay.WebhookDelivery, 0, len(eps))
	params := make([]river.InsertManyParams, 0, len(eps))
	for _, ep := range eps {
		d := &cryptopay.WebhookDelivery{
			ID: cryptopay.NewID(cryptopay.PrefixDelivery, now), EndpointID: ep.ID, StoreID: ep.StoreID,
			Livemode: ep.Livemode, EventID: e.ID, EventType: e.Type, Status: cryptopay.DeliveryPending,
			Body: body, CreatedAt: now, UpdatedAt: now, NextAttemptAt: &now,
		}
		if err := tx.CreateWebhookDelivery(ctx, d); err != nil {
			return nil, err
		}
		out = append(out, d)
		params = append(params, river.InsertManyParams{Args: deliverArgs{DeliveryID: d.ID, EndpointID: ep.ID}, InsertOpts: jobOpts})
	}
	if _, err := o.river.InsertManyTx(ctx, st.SQLTx(), params); err != nil {
		return nil, fmt.Errorf("webhook: enqueue: %w", err)
	}
	return out, nil
}

// secretAAD binds a sealed secret to its column and endpoint, in the form
// the store's key rotation (sqldb.SealAAD) re-seals with.
func secretAAD(column, endpointID string) []byte {
	return sqldb.SealAAD("webhook_endpoints", column, endpointID)
}
