package webhook

import (
	"context"
	"errors"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// sendable refuses a redelivery or resend to an endpoint that would never
// send it: a disabled one or an expired one.
func (s *Service) sendable(ep *cryptopay.WebhookEndpoint) error {
	if !ep.Enabled {
		return cryptopay.Errorf(cryptopay.CodeConflict, "The webhook endpoint is disabled; enable it first.")
	}
	if ep.Expired(s.now()) {
		return errExpired(ep)
	}
	return nil
}

func errExpired(ep *cryptopay.WebhookEndpoint) error {
	return cryptopay.Errorf(cryptopay.CodeConflict, "The webhook endpoint expired at %s; renew it with expires_in first.",
		ep.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z"))
}

// ResendEvent delivers o's event eventID again, with the same id and body
// (a receiver de-duplicates it like any retry), as a new delivery: to
// endpointID when it is not "", which must be o's, enabled and not
// expired; otherwise to every enabled, unexpired endpoint of o that
// subscribes to the event's type, which may be none (an empty list). A
// test event goes only to a named endpoint, as when it was made.
//
// Errors: CodeNotFound for an event or endpoint of another store or mode,
// CodeConflict for a disabled or expired endpoint, CodeInvalidRequest
// naming webhook_endpoint for a test event without one.
func (s *Service) ResendEvent(ctx context.Context, o Owner, eventID, endpointID string) ([]*cryptopay.WebhookDelivery, error) {
	var out []*cryptopay.WebhookDelivery
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		ev, err := tx.GetEvent(ctx, eventID)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && (ev.StoreID != o.StoreID || ev.Livemode != o.Livemode)) {
			return cryptopay.Errorf(cryptopay.CodeNotFound, "No such event.")
		}
		if err != nil {
			return err
		}
		var eps []cryptopay.WebhookEndpoint
		if endpointID != "" {
			ep, err := owned(tx.GetWebhookEndpoint(ctx, endpointID))(o, "webhook endpoint")
			if err != nil {
				return err
			}
			if err := s.sendable(ep); err != nil {
				return err
			}
			eps = []cryptopay.WebhookEndpoint{*ep}
		} else {
			if ev.Type == cryptopay.EventTest {
				return cryptopay.Invalid("webhook_endpoint", "a test event is resent only to a named webhook_endpoint")
			}
			all, err := tx.ListWebhookSubscribers(ctx, o.StoreID, o.Livemode, ev.Type)
			if err != nil {
				return err
			}
			eps = live(all, s.now())
		}
		if len(eps) == 0 {
			return nil
		}
		body, err := EventPayload(ev)
		if err != nil {
			return err
		}
		out, err = s.outbox.enqueue(ctx, tx, ev, body, eps)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
