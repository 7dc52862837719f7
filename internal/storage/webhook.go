package storage

import (
	"context"
	"time"

	"github.com/cryptopay/cryptopay"
)

// WebhookReader reads webhook endpoints and the delivery log.
type WebhookReader interface {
	// GetWebhookEndpoint returns the endpoint with id, or ErrNotFound.
	GetWebhookEndpoint(ctx context.Context, id string) (*cryptopay.WebhookEndpoint, error)
	// ListWebhookEndpoints returns a store's endpoints of one mode, newest
	// first, and whether more follow.
	ListWebhookEndpoints(ctx context.Context, f WebhookEndpointFilter) ([]cryptopay.WebhookEndpoint, bool, error)
	// ListWebhookSubscribers returns the enabled endpoints of a store and
	// mode that subscribe to events of type t, expired ones included (the
	// caller holds the clock and leaves them out), without their secrets.
	// It may answer from a cache: a change committed through another
	// handle on the same database shows within one second; one made
	// through this handle (in this transaction too) shows at once.
	ListWebhookSubscribers(ctx context.Context, storeID string, livemode bool, t cryptopay.EventType) ([]cryptopay.WebhookEndpoint, error)
	// GetWebhookDelivery returns the delivery with id and every attempt in
	// order, or ErrNotFound.
	GetWebhookDelivery(ctx context.Context, id string) (*cryptopay.WebhookDelivery, error)
	// ListWebhookDeliveries returns an endpoint's deliveries newest first
	// (without attempts) and whether more follow.
	ListWebhookDeliveries(ctx context.Context, f WebhookDeliveryFilter) ([]cryptopay.WebhookDelivery, bool, error)
	// LastWebhookSuccess returns when an attempt to the endpoint last got
	// a 2xx, or nil if none ever did.
	LastWebhookSuccess(ctx context.Context, endpointID string) (*time.Time, error)
}

// WebhookTx writes webhook endpoints and the delivery log.
type WebhookTx interface {
	// CreateWebhookEndpoint inserts an endpoint; an unknown store wraps
	// ErrForeignKey.
	CreateWebhookEndpoint(ctx context.Context, e *cryptopay.WebhookEndpoint) error
	// UpdateWebhookEndpoint writes every mutable field: URL, Description,
	// EventTypes, Enabled, DisabledReason, the secrets, ExpiresAt and
	// UpdatedAt.
	UpdateWebhookEndpoint(ctx context.Context, e *cryptopay.WebhookEndpoint) error
	// DeleteWebhookEndpoint removes an endpoint and its delivery log, or
	// returns ErrNotFound.
	DeleteWebhookEndpoint(ctx context.Context, id string) error
	// CreateWebhookDelivery inserts a pending delivery.
	CreateWebhookDelivery(ctx context.Context, d *cryptopay.WebhookDelivery) error
	// RecordWebhookAttempt stores an attempt and sets its delivery's status,
	// attempt count and next attempt time (nil once final).
	// It also ends the delivery's claim.
	RecordWebhookAttempt(ctx context.Context, a *cryptopay.WebhookAttempt, status cryptopay.DeliveryStatus, next *time.Time) error
	// RecordWebhookAttempts is RecordWebhookAttempt for many attempts in a
	// few statements. An attempt number already recorded fails the whole
	// call with a *ConflictError (the caller records them one by one).
	RecordWebhookAttempts(ctx context.Context, rs []WebhookAttemptRecord) error
	// ClaimWebhookDeliveries claims up to limit pending deliveries due at
	// now (next attempt at or before now) and not claimed (or whose claim
	// ended before now), earliest due first, leaving out those of the
	// endpoints in skip: each is claimed until until, when it is due again
	// unless an attempt was recorded. Each comes with its endpoint as it is
	// in this transaction. On PostgreSQL rows another transaction is
	// claiming are skipped, not waited for.
	ClaimWebhookDeliveries(ctx context.Context, now, until time.Time, limit int, skip []string) ([]ClaimedWebhookDelivery, error)
	// ReleaseWebhookDelivery moves the claim of a pending delivery, if it
	// is still the claim that ends at held (the caller's, not a later
	// one), to end at until, without an attempt: it is due again then.
	ReleaseWebhookDelivery(ctx context.Context, id string, held, until time.Time) error
}

// WebhookAttemptRecord is an attempt and where it leaves its delivery: the
// arguments of RecordWebhookAttempt.
type WebhookAttemptRecord struct {
	Attempt *cryptopay.WebhookAttempt
	Status  cryptopay.DeliveryStatus
	Next    *time.Time
}

// ClaimedWebhookDelivery is a delivery claimed for an attempt and its
// endpoint, read together (one joined read).
type ClaimedWebhookDelivery struct {
	Delivery cryptopay.WebhookDelivery
	Endpoint cryptopay.WebhookEndpoint
}

// WebhookEndpointFilter selects endpoints of one store and mode.
type WebhookEndpointFilter struct {
	StoreID  string
	Livemode bool
	Page
}

// WebhookDeliveryFilter selects deliveries of one endpoint.
type WebhookDeliveryFilter struct {
	EndpointID string
	Status     cryptopay.DeliveryStatus // "" for any
	Page
}
