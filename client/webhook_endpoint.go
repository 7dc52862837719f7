package client

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// WebhookEndpoint is a URL of the store that receives signed POSTs of its
// events. Secret is set only in the response that created it: verify
// deliveries with it (package webhooksig).
type WebhookEndpoint struct {
	ID             string     `json:"id"`
	Object         string     `json:"object"`
	Livemode       bool       `json:"livemode"`
	URL            string     `json:"url"`
	Description    string     `json:"description"`
	EnabledEvents  []string   `json:"enabled_events"`
	Enabled        bool       `json:"enabled"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"` // nil: never expires
	Secret         string     `json:"secret,omitempty"`
}

// WebhookEndpointParams creates or updates an endpoint; zero fields are
// not sent (on update they stay as they are).
type WebhookEndpointParams struct {
	URL           string   `json:"url,omitempty"`
	Description   string   `json:"description,omitempty"`
	EnabledEvents []string `json:"enabled_events,omitempty"` // nil: every type on create
	// ExpiresIn makes the endpoint temporary: nothing is delivered to it
	// once that long has passed (by the gateway's clock) unless an update
	// with ExpiresIn renews it. Whole seconds, from a minute to 90 days.
	ExpiresIn time.Duration `json:"-"`
}

// MarshalJSON sends ExpiresIn as whole seconds ("expires_in"), leaving it
// out when zero.
func (p WebhookEndpointParams) MarshalJSON() ([]byte, error) {
	type plain WebhookEndpointParams
	return json.Marshal(struct {
		plain
		ExpiresIn int64 `json:"expires_in,omitempty"`
	}{plain(p), int64(p.ExpiresIn / time.Second)})
}

// CreateWebhookEndpoint registers an endpoint and returns it with its
// secret (in this response only). Needs webhooks:write.
func (c *Client) CreateWebhookEndpoint(ctx context.Context, p WebhookEndpointParams, opts ...RequestOption) (*WebhookEndpoint, error) {
	var e WebhookEndpoint
	if err := c.do(ctx, http.MethodPost, "/v1/webhook_endpoints", nil, p, &e, opts); err != nil {
		return nil, err
	}
	return &e, nil
}

// UpdateWebhookEndpoint changes the fields p sets; with ExpiresIn it
// renews a temporary endpoint. Needs webhooks:write.
func (c *Client) UpdateWebhookEndpoint(ctx context.Context, id string, p WebhookEndpointParams, opts ...RequestOption) (*WebhookEndpoint, error) {
	var e WebhookEndpoint
	if err := c.do(ctx, http.MethodPatch, "/v1/webhook_endpoints/"+pathID(id), nil, p, &e, opts); err != nil {
		return nil, err
	}
	return &e, nil
}

// WebhookEndpointList is one page of the store's endpoints, newest first.
type WebhookEndpointList struct {
	Object  string            `json:"object"`
	Data    []WebhookEndpoint `json:"data"`
	HasMore bool              `json:"has_more"`
}

// ListWebhookEndpoints returns the newest endpoints of the key's store and
// mode (never their secrets). Needs webhooks:read.
func (c *Client) ListWebhookEndpoints(ctx context.Context, opts ...RequestOption) (*WebhookEndpointList, error) {
	var l WebhookEndpointList
	if err := c.do(ctx, http.MethodGet, "/v1/webhook_endpoints", nil, nil, &l, opts); err != nil {
		return nil, err
	}
	return &l, nil
}

// DeleteWebhookEndpoint removes an endpoint and its delivery log. Needs
// webhooks:write.
func (c *Client) DeleteWebhookEndpoint(ctx context.Context, id string, opts ...RequestOption) error {
	return c.do(ctx, http.MethodDelete, "/v1/webhook_endpoints/"+pathID(id), nil, nil, nil, opts)
}

// WebhookDelivery is one event on its way to one endpoint.
type WebhookDelivery struct {
	ID            string     `json:"id"`
	Object        string     `json:"object"`
	Livemode      bool       `json:"livemode"`
	EndpointID    string     `json:"webhook_endpoint_id"`
	EventID       string     `json:"event_id"`
	EventType     string     `json:"event_type"`
	Status        string     `json:"status"`
	AttemptCount  int        `json:"attempt_count"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	CreatedAt     time.Time  `json:"created_at"`
}

// WebhookDeliveryList is a list of deliveries.
type WebhookDeliveryList struct {
	Object  string            `json:"object"`
	Data    []WebhookDelivery `json:"data"`
	HasMore bool              `json:"has_more"`
}

// ResendEvent delivers event id again, with the same id and body, to
// every enabled, unexpired endpoint subscribed to its type, or only to
// endpointID when it is not "". It returns the new deliveries, which may
// be none. Needs webhooks:write.
func (c *Client) ResendEvent(ctx context.Context, id, endpointID string, opts ...RequestOption) (*WebhookDeliveryList, error) {
	var in any
	if endpointID != "" {
		in = map[string]string{"webhook_endpoint": endpointID}
	}
	var l WebhookDeliveryList
	if err := c.do(ctx, http.MethodPost, "/v1/events/"+pathID(id)+"/resend", nil, in, &l, opts); err != nil {
		return nil, err
	}
	return &l, nil
}
