package webhook

import (
	"context"
	"database/sql"
	"fmt"

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

// onEvent is the outbox: installed as the storage event hook, it runs in
// the transaction of every CreateEvent and enqueues one delivery per
// subscribed, enabled endpoint of the event's store and mode. Test events
// go only to the endpoint that asked for them (SendTest).
func (s *Service) onEvent(ctx context.Context, tx storage.Tx, e *cryptopay.Event) error {
	if e.Type == cryptopay.EventTest {
		return nil
	}
	eps, err := tx.ListWebhookSubscribers(ctx, e.StoreID, e.Livemode, e.Type)
	if err != nil || len(eps) == 0 {
		return err
	}
	body, err := EventPayload(e)
	if err != nil {
		return fmt.Errorf("webhook: event %s: %w", e.ID, err)
	}
	_, err = s.enqueue(ctx, tx, e, body, eps)
	return err
}

// enqueue writes a pending delivery per endpoint and its job, in tx.
func (s *Service) enqueue(ctx context.Context, tx storage.Tx, e *cryptopay.Event, body []byte, eps []cryptopay.WebhookEndpoint) ([]*cryptopay.WebhookDelivery, error) {
	st, ok := tx.(sqlTxer)
	if !ok {
		return nil, fmt.Errorf("webhook: transaction %T does not expose *sql.Tx", tx)
	}
	now := s.now().UTC()
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
	if _, err := s.river.InsertManyTx(ctx, st.SQLTx(), params); err != nil {
		return nil, fmt.Errorf("webhook: enqueue: %w", err)
	}
	return out, nil
}

// secretAAD binds a sealed secret to its column and endpoint, in the form
// the store's key rotation (sqldb.SealAAD) re-seals with.
func secretAAD(column, endpointID string) []byte {
	return sqldb.SealAAD("webhook_endpoints", column, endpointID)
}
