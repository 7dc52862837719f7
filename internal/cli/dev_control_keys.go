package cli

import (
	"context"

	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/strictjson"
)

// Tools that talk to the sandbox through its public API (`listen`,
// `trigger`, `events resend`) ask the control endpoint for a key of their
// own with only the scopes they need, and revoke it when they finish: the
// sandbox's own key is shown once and is never written down, and a key
// per tool shows in the audit log who did what.

type mintKeyRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

type mintKeyResponse struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

type revokeKeyRequest struct {
	ID string `json:"id"`
}

func (c *control) mintKey(ctx context.Context, body []byte) (any, error) {
	var req mintKeyRequest
	if err := strictjson.Decode(body, &req); err != nil {
		return nil, err
	}
	k, err := c.a.svc.CreateKey(ctx, gateway.KeyParams{StoreID: c.storeID, Name: req.Name, Scopes: req.Scopes})
	if err != nil {
		return nil, err
	}
	return mintKeyResponse{ID: k.Key.ID, Secret: k.Secret}, nil
}

func (c *control) revokeKey(ctx context.Context, body []byte) (any, error) {
	var req revokeKeyRequest
	if err := strictjson.Decode(body, &req); err != nil {
		return nil, err
	}
	if _, err := c.a.svc.RevokeKey(ctx, nil, req.ID); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
