package client

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// APIKey is an API key as the API returns it. Secret is set only in the
// response that created the key (CreateAPIKey, RotateAPIKey): the server
// stores a hash and can never show it again.
type APIKey struct {
	ID         string     `json:"id"`
	Object     string     `json:"object"`
	Livemode   bool       `json:"livemode"`
	StoreID    string     `json:"store_id"`
	Name       string     `json:"name"`
	Last4      string     `json:"last4"`
	Scopes     []string   `json:"scopes"`
	AllowedIPs []string   `json:"allowed_ips"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"` // in the future while a rotated key's grace period runs
	RotatedTo  *string    `json:"rotated_to"`
	LastUsedAt *time.Time `json:"last_used_at"`
	Secret     string     `json:"secret,omitempty"`
}

// APIKeyParams creates a key. Scopes is required. The key must lie within
// the calling key: its scopes, its allowlist (inside the caller's, if the
// caller has one) and its expiry (no later than the caller's).
type APIKeyParams struct {
	Name       string   `json:"name,omitempty"`
	Scopes     []string `json:"scopes"`
	AllowedIPs []string `json:"allowed_ips,omitempty"` // addresses or CIDRs; empty allows any
	// ExpiresIn is the key's lifetime, sent in whole seconds; zero means
	// the server's default (90 days, or the caller's expiry if sooner).
	ExpiresIn time.Duration `json:"-"`
}

// MarshalJSON sends ExpiresIn as whole seconds ("expires_in"), leaving
// it out when zero.
func (p APIKeyParams) MarshalJSON() ([]byte, error) {
	type plain APIKeyParams
	return json.Marshal(struct {
		plain
		ExpiresIn int64 `json:"expires_in,omitempty"`
	}{plain(p), int64(p.ExpiresIn / time.Second)})
}

// RotateAPIKeyParams rotates a key. A nil GracePeriod keeps the old key
// working for the server's default (24 hours); zero stops it at once.
type RotateAPIKeyParams struct {
	GracePeriod *time.Duration
}

// APIKeyList is the store's keys of the calling key's mode.
type APIKeyList struct {
	Object  string   `json:"object"`
	Data    []APIKey `json:"data"`
	HasMore bool     `json:"has_more"`
}

// CreateAPIKey creates a key in the calling key's store and mode. A key
// beyond the caller (a scope it lacks, a wider allowlist, a later expiry)
// is a *Error with Code "api_key_exceeds_caller" and Param naming the
// field. The secret is in this response only: a retry under the same
// Idempotency-Key is a *Error with Code "idempotency_secret_shown_once".
// Needs keys:write.
func (c *Client) CreateAPIKey(ctx context.Context, p APIKeyParams, opts ...RequestOption) (*APIKey, error) {
	var k APIKey
	if err := c.do(ctx, http.MethodPost, "/v1/api_keys", nil, p, &k, opts); err != nil {
		return nil, err
	}
	return &k, nil
}

// ListAPIKeys lists the store's keys (never their secrets). Needs
// keys:read.
func (c *Client) ListAPIKeys(ctx context.Context, opts ...RequestOption) (*APIKeyList, error) {
	var l APIKeyList
	if err := c.do(ctx, http.MethodGet, "/v1/api_keys", nil, nil, &l, opts); err != nil {
		return nil, err
	}
	return &l, nil
}

// GetAPIKey returns one key (without its secret). Needs keys:read.
func (c *Client) GetAPIKey(ctx context.Context, id string, opts ...RequestOption) (*APIKey, error) {
	var k APIKey
	if err := c.do(ctx, http.MethodGet, "/v1/api_keys/"+pathID(id), nil, nil, &k, opts); err != nil {
		return nil, err
	}
	return &k, nil
}

// RotateAPIKey issues a replacement for key id, with the same name, scopes
// and allowlist, and returns it with its secret. The old key stops after
// the grace period. A key may rotate itself, and another key only when
// that key lies within it (else Code "api_key_exceeds_caller"). Needs
// keys:write.
func (c *Client) RotateAPIKey(ctx context.Context, id string, p RotateAPIKeyParams, opts ...RequestOption) (*APIKey, error) {
	body := map[string]int64{}
	if p.GracePeriod != nil {
		body["grace_period"] = int64(*p.GracePeriod / time.Second)
	}
	var k APIKey
	if err := c.do(ctx, http.MethodPost, "/v1/api_keys/"+pathID(id)+"/rotate", nil, body, &k, opts); err != nil {
		return nil, err
	}
	return &k, nil
}

// RevokeAPIKey stops key id at once and returns it. Revoking a key that is
// already revoked is a *Error with Code "conflict"; a key beyond the caller
// is Code "api_key_exceeds_caller". Needs keys:write.
func (c *Client) RevokeAPIKey(ctx context.Context, id string, opts ...RequestOption) (*APIKey, error) {
	var k APIKey
	if err := c.do(ctx, http.MethodPost, "/v1/api_keys/"+pathID(id)+"/revoke", nil, nil, &k, opts); err != nil {
		return nil, err
	}
	return &k, nil
}
