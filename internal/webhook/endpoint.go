package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/webhooksig"
)

// Owner is whose endpoints a caller may see: an API key's store and mode.
type Owner struct {
	StoreID  string
	Livemode bool
}

// EndpointParams are the fields of a create or update; nil leaves a field
// as it is (on create: URL is required, all types, enabled).
type EndpointParams struct {
	URL         *string
	Description *string
	EventTypes  *[]string
	Enabled     *bool
	// ExpiresIn sets the endpoint to expire that long from now (on create
	// and on every update that carries it: a temporary endpoint's owner
	// renews it so). Between MinEndpointExpiry and MaxEndpointExpiry.
	ExpiresIn *time.Duration
}

const maxDescription = 500

// Errors are *cryptopay.Error values naming the field for invalid input,
// CodeNotFound for an endpoint or delivery of another store or mode, and
// wrapped storage errors otherwise.

func (s *Service) guardFor(live bool) *guard {
	if live {
		return s.live
	}
	return s.test
}

// checkParams refuses what no endpoint may hold, before anything else is
// looked at (the URL check resolves its host): a description a person
// would read differently from what it holds, and an empty event list,
// which must not read as "no filter", that is all events.
func checkParams(p EndpointParams) error {
	if p.Description != nil && !cryptopay.PrintableText(*p.Description) {
		return cryptopay.Invalid("description", "description must be printable text, without control or format characters (such as U+202E or U+200B)")
	}
	if p.EventTypes != nil && len(*p.EventTypes) == 0 {
		return cryptopay.Invalid("enabled_events", `enabled_events must name at least one event type, or ["*"] for all`)
	}
	if p.ExpiresIn != nil && (*p.ExpiresIn < cryptopay.MinEndpointExpiry || *p.ExpiresIn > cryptopay.MaxEndpointExpiry ||
		*p.ExpiresIn%time.Second != 0) {
		return cryptopay.Invalid("expires_in", "expires_in must be a whole number of seconds between %d and %d",
			int64(cryptopay.MinEndpointExpiry/time.Second), int64(cryptopay.MaxEndpointExpiry/time.Second))
	}
	return nil
}

func (s *Service) apply(ctx context.Context, ep *cryptopay.WebhookEndpoint, p EndpointParams) error {
	if err := checkParams(p); err != nil {
		return err
	}
	if p.URL != nil {
		u, err := s.guardFor(ep.Livemode).validateURL(ctx, *p.URL, ep.Livemode)
		if err != nil {
			if re, ok := errors.AsType[*ResolveError](err); ok {
				s.log.Info("webhook endpoint host does not resolve", "host", re.Host, "err", re.Err)
			}
			return cryptopay.Invalid("url", "%s", err.Error())
		}
		ep.URL = u
	}
	if p.Description != nil {
		if len(*p.Description) > maxDescription {
			return cryptopay.Invalid("description", "description is longer than %d bytes", maxDescription)
		}
		ep.Description = *p.Description
	}
	if p.EventTypes != nil {
		types := make([]cryptopay.EventType, 0, len(*p.EventTypes))
		for _, n := range *p.EventTypes {
			t := cryptopay.EventType(n)
			if n == "*" {
				types = nil
				break
			}
			if !slices.Contains(cryptopay.EventTypes, t) || t == cryptopay.EventTest {
				return cryptopay.Invalid("enabled_events", "unknown event type %q", n)
			}
			if !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
		ep.EventTypes = types
	}
	if p.Enabled != nil {
		ep.Enabled = *p.Enabled
		if ep.Enabled {
			ep.DisabledReason = ""
		}
	}
	if p.ExpiresIn != nil {
		// The gateway's clock, not the caller's: a listener on another
		// machine renews by duration, so a skewed clock cannot make its
		// endpoint expire early or live on.
		exp := s.now().UTC().Add(*p.ExpiresIn)
		ep.ExpiresAt = &exp
	}
	return nil
}

// CreateEndpoint makes an endpoint for o and returns it with its secret,
// which is shown only now.
func (s *Service) CreateEndpoint(ctx context.Context, o Owner, p EndpointParams) (*cryptopay.WebhookEndpoint, string, error) {
	if p.URL == nil {
		return nil, "", cryptopay.Invalid("url", "url is required")
	}
	now := s.now().UTC()
	ep := &cryptopay.WebhookEndpoint{ID: cryptopay.NewID(cryptopay.PrefixEndpoint, now), StoreID: o.StoreID,
		Livemode: o.Livemode, Enabled: true, CreatedAt: now, UpdatedAt: now}
	if err := s.apply(ctx, ep, p); err != nil {
		return nil, "", err
	}
	secret, err := webhooksig.NewSecret()
	if err != nil {
		return nil, "", err
	}
	if ep.Secret, err = s.keys.Seal([]byte(secret), secretAAD("secret", ep.ID)); err != nil {
		return nil, "", fmt.Errorf("webhook: seal secret: %w", err)
	}
	err = s.db.InTx(ctx, func(tx storage.Tx) error {
		// The response carries the signing secret: never replayed.
		if err := gateway.ClaimIdempotencyKey(ctx, tx, true); err != nil {
			return err
		}
		if err := tx.CreateWebhookEndpoint(ctx, ep); err != nil {
			return err
		}
		return s.record(ctx, tx, ep, gateway.AuditWebhookEndpointCreated, endpointDetails(ep))
	})
	if err != nil {
		return nil, "", err
	}
	return ep, secret, nil
}

// record writes an audit entry about ep in tx when an Auditor is set.
func (s *Service) record(ctx context.Context, tx storage.Tx, ep *cryptopay.WebhookEndpoint, action string, details map[string]any) error {
	if s.audit == nil {
		return nil
	}
	return s.audit.Audit(ctx, tx, gateway.AuditRecord{StoreID: ep.StoreID, Livemode: ep.Livemode,
		Action: action, Target: ep.ID, Details: details})
}

// endpointDetails is what an audit entry keeps of an endpoint: where its
// events go and which, never its secret.
func endpointDetails(ep *cryptopay.WebhookEndpoint) map[string]any {
	types := []string{"*"}
	if len(ep.EventTypes) > 0 {
		types = make([]string, len(ep.EventTypes))
		for i, t := range ep.EventTypes {
			types[i] = string(t)
		}
	}
	d := map[string]any{"url": ep.URL, "enabled_events": types, "enabled": ep.Enabled}
	if ep.ExpiresAt != nil {
		d["expires_at"] = ep.ExpiresAt.Format(time.RFC3339)
	}
	return d
}

// GetEndpoint returns o's endpoint id.
func (s *Service) GetEndpoint(ctx context.Context, o Owner, id string) (*cryptopay.WebhookEndpoint, error) {
	return owned(s.db.GetWebhookEndpoint(ctx, id))(o, "webhook endpoint")
}

// owned turns a row of another store or mode into not found, so ids of
// other merchants cannot be probed.
func owned[T interface {
	*cryptopay.WebhookEndpoint | *cryptopay.WebhookDelivery
}](v T, err error) func(Owner, string) (T, error) {
	return func(o Owner, what string) (T, error) {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, cryptopay.Errorf(cryptopay.CodeNotFound, "No such %s.", what)
		}
		if err != nil {
			return nil, err
		}
		var store string
		var live bool
		switch x := any(v).(type) {
		case *cryptopay.WebhookEndpoint:
			store, live = x.StoreID, x.Livemode
		case *cryptopay.WebhookDelivery:
			store, live = x.StoreID, x.Livemode
		}
		if store != o.StoreID || live != o.Livemode {
			return nil, cryptopay.Errorf(cryptopay.CodeNotFound, "No such %s.", what)
		}
		return v, nil
	}
}

// ListEndpoints returns o's endpoints newest first.
func (s *Service) ListEndpoints(ctx context.Context, o Owner, page storage.Page) ([]cryptopay.WebhookEndpoint, bool, error) {
	return s.db.ListWebhookEndpoints(ctx, storage.WebhookEndpointFilter{StoreID: o.StoreID, Livemode: o.Livemode, Page: page})
}

// UpdateEndpoint changes o's endpoint id.
func (s *Service) UpdateEndpoint(ctx context.Context, o Owner, id string, p EndpointParams) (*cryptopay.WebhookEndpoint, error) {
	var ep *cryptopay.WebhookEndpoint
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		var err error
		if ep, err = owned(tx.GetWebhookEndpoint(ctx, id))(o, "webhook endpoint"); err != nil {
			return err
		}
		if err := s.apply(ctx, ep, p); err != nil {
			return err
		}
		ep.UpdatedAt = s.now().UTC()
		if err := tx.UpdateWebhookEndpoint(ctx, ep); err != nil {
			return err
		}
		return s.record(ctx, tx, ep, gateway.AuditWebhookEndpointUpdated, endpointDetails(ep))
	})
	if err != nil {
		return nil, err
	}
	return ep, nil
}

// DeleteEndpoint removes o's endpoint id and its delivery log.
func (s *Service) DeleteEndpoint(ctx context.Context, o Owner, id string) error {
	return s.db.InTx(ctx, func(tx storage.Tx) error {
		ep, err := owned(tx.GetWebhookEndpoint(ctx, id))(o, "webhook endpoint")
		if err != nil {
			return err
		}
		if err := tx.DeleteWebhookEndpoint(ctx, id); err != nil {
			return err
		}
		return s.record(ctx, tx, ep, gateway.AuditWebhookEndpointDeleted, map[string]any{"url": ep.URL})
	})
}

// RotateSecret gives o's endpoint a new secret and returns it. The old
// secret keeps signing beside the new one for the rotation overlap.
func (s *Service) RotateSecret(ctx context.Context, o Owner, id string) (*cryptopay.WebhookEndpoint, string, error) {
	return s.RotateSecretOverlap(ctx, o, id, s.overlap)
}

// RotateSecretOverlap is RotateSecret with the overlap given: 0 drops the
// old secret at once (an incident, when the old secret may be known to an
// attacker), so every delivery from now on is signed with the new one only.
func (s *Service) RotateSecretOverlap(ctx context.Context, o Owner, id string, overlap time.Duration) (*cryptopay.WebhookEndpoint, string, error) {
	return s.rotateSecret(ctx, o, id, overlap, "")
}

// ErrSecretFormUsed: the endpoint's secret is no longer the one the
// rotating form was made for; it was rotated since, and that secret was
// shown once, to the request that rotated it.
var ErrSecretFormUsed = &cryptopay.Error{Code: cryptopay.CodeConflict, Param: "form_id",
	Message: "The signing secret was already rotated since this page was loaded; the new secret was shown once, then. It is never shown again: rotate once more (from a freshly loaded page) for another."}

// SecretVersion names the endpoint's current signing secret without
// revealing anything of it: a digest of its sealed form, which changes
// with every rotation (each seal has a fresh nonce). A page that offers to
// rotate the secret carries it (form_id), so the form rotates at most once
// (RotateSecretOnce).
func SecretVersion(ep *cryptopay.WebhookEndpoint) string {
	sum := sha256.Sum256([]byte(ep.Secret))
	return hex.EncodeToString(sum[:12])
}

// RotateSecretOnce is RotateSecret for a form made when the secret had
// version (SecretVersion): if the secret changed since (the form was sent
// twice: a reload of the page that showed the new secret, a double click)
// it rotates nothing and returns ErrSecretFormUsed, so no second secret is
// made or shown. The check and the rotation are one transaction.
func (s *Service) RotateSecretOnce(ctx context.Context, o Owner, id, version string) (*cryptopay.WebhookEndpoint, string, error) {
	if version == "" {
		return nil, "", cryptopay.Invalid("form_id", "The form is incomplete; reload the page and try again.")
	}
	return s.rotateSecret(ctx, o, id, s.overlap, version)
}

// rotateSecret rotates o's endpoint's secret; a non-empty version must be
// the current secret's.
func (s *Service) rotateSecret(ctx context.Context, o Owner, id string, overlap time.Duration, version string) (*cryptopay.WebhookEndpoint, string, error) {
	secret, err := webhooksig.NewSecret()
	if err != nil {
		return nil, "", err
	}
	var ep *cryptopay.WebhookEndpoint
	err = s.db.InTx(ctx, func(tx storage.Tx) error {
		var err error
		if ep, err = owned(tx.GetWebhookEndpoint(ctx, id))(o, "webhook endpoint"); err != nil {
			return err
		}
		if version != "" && SecretVersion(ep) != version {
			return ErrSecretFormUsed
		}
		now := s.now().UTC()
		sealed, err := s.keys.Seal([]byte(secret), secretAAD("secret", ep.ID))
		if err != nil {
			return fmt.Errorf("webhook: seal secret: %w", err)
		}
		// The old secret moves column, and a sealed value is bound to its
		// column, so it is opened and sealed again for previous_secret.
		old, err := s.keys.Open(ep.Secret, secretAAD("secret", ep.ID))
		if err != nil {
			return fmt.Errorf("webhook: open secret: %w", err)
		}
		prev, err := s.keys.Seal(old, secretAAD("previous_secret", ep.ID))
		if err != nil {
			return fmt.Errorf("webhook: seal secret: %w", err)
		}
		exp := now.Add(overlap)
		ep.PreviousSecret, ep.PreviousSecretExpiresAt, ep.Secret, ep.UpdatedAt = prev, &exp, sealed, now
		if overlap <= 0 {
			ep.PreviousSecret, ep.PreviousSecretExpiresAt = "", nil
		}
		if err := tx.UpdateWebhookEndpoint(ctx, ep); err != nil {
			return err
		}
		return s.record(ctx, tx, ep, gateway.AuditWebhookSecretRotated,
			map[string]any{"previous_secret_expires_at": exp.Format(time.RFC3339), "overlap": overlap.String()})
	})
	if err != nil {
		return nil, "", err
	}
	return ep, secret, nil
}

// GetDelivery returns o's delivery id with its attempts.
func (s *Service) GetDelivery(ctx context.Context, o Owner, id string) (*cryptopay.WebhookDelivery, error) {
	return owned(s.db.GetWebhookDelivery(ctx, id))(o, "webhook delivery")
}

// ListDeliveries returns the deliveries of o's endpoint, newest first,
// optionally only those with status.
func (s *Service) ListDeliveries(ctx context.Context, o Owner, endpointID, status string, page storage.Page) ([]cryptopay.WebhookDelivery, bool, error) {
	switch cryptopay.DeliveryStatus(status) {
	case "", cryptopay.DeliveryPending, cryptopay.DeliverySucceeded, cryptopay.DeliveryFailed:
	default:
		return nil, false, cryptopay.Invalid("status", "status must be pending, succeeded or failed")
	}
	if _, err := s.GetEndpoint(ctx, o, endpointID); err != nil {
		return nil, false, err
	}
	return s.db.ListWebhookDeliveries(ctx, storage.WebhookDeliveryFilter{EndpointID: endpointID,
		Status: cryptopay.DeliveryStatus(status), Page: page})
}

// Redeliver sends delivery id's event again as a new delivery with the
// same event id and body.
func (s *Service) Redeliver(ctx context.Context, o Owner, id string) (*cryptopay.WebhookDelivery, error) {
	var out *cryptopay.WebhookDelivery
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		d, err := owned(tx.GetWebhookDelivery(ctx, id))(o, "webhook delivery")
		if err != nil {
			return err
		}
		ep, err := tx.GetWebhookEndpoint(ctx, d.EndpointID)
		if err != nil {
			return err
		}
		if err := s.sendable(ep); err != nil {
			return err
		}
		ds, err := s.outbox.enqueue(ctx, tx, &cryptopay.Event{ID: d.EventID, Type: d.EventType}, d.Body, []cryptopay.WebhookEndpoint{*ep})
		if err != nil {
			return err
		}
		out = ds[0]
		return nil
	})
	return out, err
}

// SendTest writes a test event and delivers it to o's endpoint id only.
func (s *Service) SendTest(ctx context.Context, o Owner, id string) (*cryptopay.WebhookDelivery, error) {
	var out *cryptopay.WebhookDelivery
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		ep, err := owned(tx.GetWebhookEndpoint(ctx, id))(o, "webhook endpoint")
		if err != nil {
			return err
		}
		if ep.Expired(s.now()) {
			return errExpired(ep)
		}
		now := s.now().UTC()
		ev := cryptopay.Event{ID: cryptopay.NewID(cryptopay.PrefixEvent, now), StoreID: ep.StoreID, Livemode: ep.Livemode,
			Type: cryptopay.EventTest, CreatedAt: now,
			Data: []byte(`{"webhook_endpoint_id":"` + ep.ID + `","message":"This is a test event from CryptoPay."}`)}
		if err := s.outbox.Append(ctx, tx, &ev); err != nil {
			return err
		}
		body, err := EventPayload(&ev)
		if err != nil {
			return err
		}
		ds, err := s.outbox.enqueue(ctx, tx, &ev, body, []cryptopay.WebhookEndpoint{*ep})
		if err != nil {
			return err
		}
		out = ds[0]
		return nil
	})
	return out, err
}
