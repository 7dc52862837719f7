package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/cryptopay/cryptopay"
)

// eventBody is an event on the wire; webhook deliveries carry the same
// shape.
type eventBody struct {
	ID         string              `json:"id"`
	Object     string              `json:"object"`
	Type       cryptopay.EventType `json:"type"`
	Livemode   bool                `json:"livemode"`
	APIVersion string              `json:"api_version"`
	CreatedAt  time.Time           `json:"created_at"`
	Data       json.RawMessage     `json:"data"`
}

func eventJSON(e *cryptopay.Event) eventBody {
	return eventBody{ID: e.ID, Object: "event", Type: e.Type, Livemode: e.Livemode,
		APIVersion: cryptopay.APIVersion, CreatedAt: e.CreatedAt, Data: e.Data}
}

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
