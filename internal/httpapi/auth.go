package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// headerKeyExpiry warns a client whose key expires soon, so rotation
// happens before an outage rather than after.
const headerKeyExpiry = "CryptoPay-Key-Expiry-Warning"

// authenticate resolves the Bearer key of r. Every failure is a generic
// 401 (or 403 for a disallowed address) whose reason stays in the log.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*cryptopay.APIKey, error) {
	secret := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			secret = strings.TrimSpace(token)
		} else {
			secret = "\x00malformed" // present but unusable: counted as malformed
		}
	}
	key, err := s.svc.Authenticate(gateway.WithActor(r.Context(), actor(r, nil)), secret, clientIP(r))
	if err != nil {
		return nil, err
	}
	if left := key.ExpiresAt.Sub(s.svc.Now()); left < cryptopay.KeyExpiryNotice {
		w.Header().Set(headerKeyExpiry, "This API key expires at "+key.ExpiresAt.Format(time.RFC3339)+
			"; rotate it with POST /v1/api_keys/"+key.ID+"/rotate.")
	}
	return key, nil
}
