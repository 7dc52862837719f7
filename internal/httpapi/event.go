package httpapi

import (
	"net/http"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

// eventBody is an event on the wire; webhook deliveries carry the same
// shape, defined once in the webhook package.
type eventBody = webhook.EventBody

func eventJSON(e *cryptopay.Event) eventBody { return webhook.NewEventBody(e) }

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := onlyQuery(r, "invoice", "type", "limit", "starting_after"); err != nil {
		return err
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	evs, more, err := s.svc.ListEvents(r.Context(), key, q.Get("invoice"), q.Get("type"), limit, q.Get("starting_after"))
	if err != nil {
		return err
	}
	out := make([]eventBody, len(evs))
	for i := range evs {
		out[i] = eventJSON(&evs[i])
	}
	writeJSON(w, http.StatusOK, listBody[eventBody]{Object: "list", Data: out, HasMore: more})
	return nil
}
