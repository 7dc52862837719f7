package httpapi

import (
	"net/http"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

type createAPIKeyRequest struct {
	Name       string   `json:"name"`
	Scopes     []string `json:"scopes"`
	ExpiresIn  *int64   `json:"expires_in"`
	AllowedIPs []string `json:"allowed_ips"`
}

type rotateAPIKeyRequest struct {
	GracePeriod *int64 `json:"grace_period"` // a JSON integer, never a string
}

// apiKeyBody is a key on the wire. Secret is present only in the response
// that created it.
type apiKeyBody struct {
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
	RevokedAt  *time.Time `json:"revoked_at"`
	RotatedTo  *string    `json:"rotated_to"`
	LastUsedAt *time.Time `json:"last_used_at"`
	Secret     string     `json:"secret,omitempty"`
}

func apiKeyJSON(k *cryptopay.APIKey, secret string) apiKeyBody {
	scopes := make([]string, len(k.Scopes))
	for i, s := range k.Scopes {
		scopes[i] = string(s)
	}
	ips := k.AllowedIPs
	if ips == nil {
		ips = []string{}
	}
	return apiKeyBody{
		ID: k.ID, Object: "api_key", Livemode: k.Livemode, StoreID: k.StoreID, Name: k.Name,
		Last4: k.Last4, Scopes: scopes, AllowedIPs: ips, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt,
		RevokedAt: k.RevokedAt, RotatedTo: optional(k.RotatedTo), LastUsedAt: k.LastUsedAt, Secret: secret,
	}
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey, body []byte) error {
	var req createAPIKeyRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	ttl, err := seconds("expires_in", req.ExpiresIn)
	if err != nil {
		return err
	}
	created, err := s.svc.CreateKeyAs(r.Context(), key, gateway.KeyParams{
		Name: req.Name, Scopes: req.Scopes, TTL: ttl, AllowedIPs: req.AllowedIPs,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, apiKeyJSON(created.Key, created.Secret))
	return nil
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := onlyQuery(r); err != nil {
		return err
	}
	keys, err := s.svc.ListKeys(r.Context(), key.StoreID)
	if err != nil {
		return err
	}
	out := []apiKeyBody{}
	for i := range keys {
		if keys[i].Livemode == key.Livemode {
			out = append(out, apiKeyJSON(&keys[i], ""))
		}
	}
	writeJSON(w, http.StatusOK, listBody[apiKeyBody]{Object: "list", Data: out})
	return nil
}

func (s *Server) getAPIKey(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	k, err := s.svc.GetKey(r.Context(), key, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiKeyJSON(k, ""))
	return nil
}

func (s *Server) rotateAPIKey(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey, body []byte) error {
	var req rotateAPIKeyRequest
	if err := decodeOptionalJSON(body, &req); err != nil {
		return err
	}
	grace := time.Duration(-1) // the default window
	if req.GracePeriod != nil {
		v := *req.GracePeriod
		if v < 0 || v > 1<<31 {
			return cryptopay.Invalid("grace_period", "grace_period must be a whole number of seconds, 0 or more.")
		}
		grace = time.Duration(v) * time.Second
	}
	created, err := s.svc.RotateKey(r.Context(), key, r.PathValue("id"), grace)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, apiKeyJSON(created.Key, created.Secret))
	return nil
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := s.readNoBody(w, r); err != nil {
		return err
	}
	k, err := s.svc.RevokeKey(r.Context(), key, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiKeyJSON(k, ""))
	return nil
}
