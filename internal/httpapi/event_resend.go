package httpapi

import (
	"net/http"

	"github.com/cryptopay/cryptopay"
)

// resendRequest is the optional body of POST /v1/events/{id}/resend.
type resendRequest struct {
	WebhookEndpoint *string `json:"webhook_endpoint"`
}

// resendEvent delivers an event again, as `stripe events resend` does:
// to every subscribed endpoint, or to the one named.
func (s *Server) resendEvent(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	var req resendRequest
	if err := decodeOptionalJSON(body, &req); err != nil {
		return err
	}
	endpoint := ""
	if req.WebhookEndpoint != nil {
		if *req.WebhookEndpoint == "" {
			return cryptopay.Invalid("webhook_endpoint", "webhook_endpoint must be an endpoint id (we_...); leave it out to resend to every subscribed endpoint")
		}
		endpoint = *req.WebhookEndpoint
	}
	ds, err := s.webhooks.ResendEvent(r.Context(), owner(key), r.PathValue("id"), endpoint)
	if err != nil {
		return err
	}
	out := make([]deliveryBody, len(ds))
	for i, d := range ds {
		out[i] = deliveryJSON(d, false)
	}
	writeJSON(w, http.StatusAccepted, listBody[deliveryBody]{Object: "list", Data: out, HasMore: false})
	return nil
}
