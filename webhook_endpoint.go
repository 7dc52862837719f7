package cryptopay

import "time"

// WebhookEndpoint is a URL of a store that receives signed POSTs of the
// store's events. Its secret is held by the gateway (sealed at rest) because
// the gateway needs it to sign; the merchant sees it only when it is made.
type WebhookEndpoint struct {
	ID          string
	StoreID     string
	Livemode    bool
	URL         string
	Description string
	// EventTypes the endpoint receives; empty means every type.
	EventTypes []EventType
	Enabled    bool
	// DisabledReason says why the gateway disabled the endpoint ("" when a
	// merchant did, or when enabled).
	DisabledReason string
	// Secret is the sealed current signing secret (fieldcrypt format).
	Secret string
	// PreviousSecret is the sealed secret replaced by the last rotation; it
	// signs beside Secret until PreviousSecretExpiresAt.
	PreviousSecret          string
	PreviousSecretExpiresAt *time.Time
	// ExpiresAt, when set, ends the endpoint's deliveries: from then on no
	// delivery is made for it and none still pending is sent, unless the
	// expiry is moved on before. A temporary endpoint (the one `cryptopay
	// listen` registers) renews it while its receiver runs, so a receiver
	// that crashed stops receiving by itself. Nil never expires.
	ExpiresAt *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Expired reports whether the endpoint has an expiry at or before now.
func (e *WebhookEndpoint) Expired(now time.Time) bool {
	return e.ExpiresAt != nil && !now.Before(*e.ExpiresAt)
}

// Bounds of a webhook endpoint's expires_in: at least a minute, so a
// listener that renews every third of it survives a slow round trip, and at
// most 90 days, an API key's default lifetime.
const (
	MinEndpointExpiry = time.Minute
	MaxEndpointExpiry = 90 * 24 * time.Hour
)

// Wants reports whether the endpoint subscribes to events of type t.
func (e *WebhookEndpoint) Wants(t EventType) bool {
	if len(e.EventTypes) == 0 {
		return true
	}
	for _, x := range e.EventTypes {
		if x == t {
			return true
		}
	}
	return false
}

// DeliveryStatus is where a webhook delivery stands.
type DeliveryStatus string

// Delivery statuses: pending until a 2xx (succeeded) or until the retry
// window is spent (failed).
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliverySucceeded DeliveryStatus = "succeeded"
	DeliveryFailed    DeliveryStatus = "failed"
)

// WebhookDelivery is one event on its way to one endpoint. Body is the
// exact request body, fixed when the delivery is made, so every attempt
// sends the same bytes.
type WebhookDelivery struct {
	ID         string
	EndpointID string
	StoreID    string
	Livemode   bool
	EventID    string
	EventType  EventType
	Status     DeliveryStatus
	Attempts   int
	Body       []byte
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// NextAttemptAt is when the next attempt is due while pending.
	NextAttemptAt *time.Time
	Attempt       []WebhookAttempt // filled by single-delivery reads
}

// WebhookAttempt is one POST of a delivery and what came back.
type WebhookAttempt struct {
	DeliveryID   string
	Number       int // 1, 2, ...
	StartedAt    time.Time
	Duration     time.Duration
	StatusCode   int    // 0 when no response came back
	ResponseBody string // truncated
	Error        string // "" on a response
}
