package httpapi

import (
	"net/http"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

// endpointRequest is the body of create and update; absent fields are
// left as they are.
type endpointRequest struct {
	URL           *string   `json:"url"`
	Description   *string   `json:"description"`
	EnabledEvents *[]string `json:"enabled_events"`
	Enabled       *bool     `json:"enabled"`
	ExpiresIn     *int64    `json:"expires_in"` // seconds
}

func (q endpointRequest) params() webhook.EndpointParams {
	p := webhook.EndpointParams{URL: q.URL, Description: q.Description, EventTypes: q.EnabledEvents, Enabled: q.Enabled}
	if q.ExpiresIn != nil {
		// Seconds beyond the range become a duration the service refuses,
		// never one that overflowed back into it.
		d := time.Duration(-1)
		if n := *q.ExpiresIn; n > 0 && n <= int64(cryptopay.MaxEndpointExpiry/time.Second) {
			d = time.Duration(n) * time.Second
		}
		p.ExpiresIn = &d
	}
	return p
}

// endpointBody is an endpoint on the wire; Secret only when it was just
// made (creation, rotation).
type endpointBody struct {
	ID             string     `json:"id"`
	Object         string     `json:"object"`
	Livemode       bool       `json:"livemode"`
	URL            string     `json:"url"`
	Description    string     `json:"description"`
	EnabledEvents  []string   `json:"enabled_events"`
	Enabled        bool       `json:"enabled"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	PreviousSecret *time.Time `json:"previous_secret_expires_at,omitempty"`
	Secret         string     `json:"secret,omitempty"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
}

func endpointJSON(e *cryptopay.WebhookEndpoint, secret string) endpointBody {
	types := []string{"*"}
	if len(e.EventTypes) > 0 {
		types = make([]string, len(e.EventTypes))
		for i, t := range e.EventTypes {
			types[i] = string(t)
		}
	}
	return endpointBody{ID: e.ID, Object: "webhook_endpoint", Livemode: e.Livemode, URL: e.URL, Description: e.Description,
		EnabledEvents: types, Enabled: e.Enabled, DisabledReason: e.DisabledReason, CreatedAt: e.CreatedAt,
		PreviousSecret: e.PreviousSecretExpiresAt, Secret: secret, ExpiresAt: e.ExpiresAt}
}

type attemptBody struct {
	Number       int       `json:"number"`
	StartedAt    time.Time `json:"started_at"`
	DurationMS   int64     `json:"duration_ms"`
	StatusCode   int       `json:"status_code"`
	ResponseBody string    `json:"response_body"`
	Error        string    `json:"error"`
}

type deliveryBody struct {
	ID            string         `json:"id"`
	Object        string         `json:"object"`
	Livemode      bool           `json:"livemode"`
	EndpointID    string         `json:"webhook_endpoint_id"`
	EventID       string         `json:"event_id"`
	EventType     string         `json:"event_type"`
	Status        string         `json:"status"`
	AttemptCount  int            `json:"attempt_count"`
	NextAttemptAt *time.Time     `json:"next_attempt_at"`
	CreatedAt     time.Time      `json:"created_at"`
	RequestBody   *string        `json:"request_body,omitempty"`
	Attempts      *[]attemptBody `json:"attempts,omitempty"`
}

func deliveryJSON(d *cryptopay.WebhookDelivery, full bool) deliveryBody {
	b := deliveryBody{ID: d.ID, Object: "webhook_delivery", Livemode: d.Livemode, EndpointID: d.EndpointID, EventID: d.EventID,
		EventType: string(d.EventType), Status: string(d.Status), AttemptCount: d.Attempts, NextAttemptAt: d.NextAttemptAt,
		CreatedAt: d.CreatedAt}
	if full {
		body := string(d.Body)
		as := make([]attemptBody, len(d.Attempt))
		for i, a := range d.Attempt {
			as[i] = attemptBody{Number: a.Number, StartedAt: a.StartedAt, DurationMS: a.Duration.Milliseconds(),
				StatusCode: a.StatusCode, ResponseBody: a.ResponseBody, Error: a.Error}
		}
		b.RequestBody, b.Attempts = &body, &as
	}
	return b
}

func owner(k *cryptopay.APIKey) webhook.Owner {
	return webhook.Owner{StoreID: k.StoreID, Livemode: k.Livemode}
}

func (s *Server) page(r *http.Request) (storage.Page, error) {
	limit, err := intParam(r, "limit")
	if err != nil {
		return storage.Page{}, err
	}
	if limit < 0 || limit > 100 {
		return storage.Page{}, cryptopay.Invalid("limit", "limit must be between 1 and 100")
	}
	return storage.Page{Limit: limit, StartingAfter: r.URL.Query().Get("starting_after")}, nil
}

func (s *Server) createWebhookEndpoint(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey, body []byte) error {
	var req endpointRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	ep, secret, err := s.webhooks.CreateEndpoint(r.Context(), owner(key), req.params())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, endpointJSON(ep, secret))
	return nil
}

func (s *Server) listWebhookEndpoints(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := onlyQuery(r, "limit", "starting_after"); err != nil {
		return err
	}
	p, err := s.page(r)
	if err != nil {
		return err
	}
	eps, more, err := s.webhooks.ListEndpoints(r.Context(), owner(key), p)
	if err != nil {
		return err
	}
	out := make([]endpointBody, len(eps))
	for i := range eps {
		out[i] = endpointJSON(&eps[i], "")
	}
	writeJSON(w, http.StatusOK, listBody[endpointBody]{Object: "list", Data: out, HasMore: more})
	return nil
}

func (s *Server) getWebhookEndpoint(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	ep, err := s.webhooks.GetEndpoint(r.Context(), owner(key), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, endpointJSON(ep, ""))
	return nil
}

func (s *Server) updateWebhookEndpoint(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	var req endpointRequest
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	ep, err := s.webhooks.UpdateEndpoint(r.Context(), owner(key), r.PathValue("id"), req.params())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, endpointJSON(ep, ""))
	return nil
}

func (s *Server) deleteWebhookEndpoint(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := s.readNoBody(w, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := s.webhooks.DeleteEndpoint(r.Context(), owner(key), id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "webhook_endpoint", "deleted": true})
	return nil
}

func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := s.readNoBody(w, r); err != nil {
		return err
	}
	ep, secret, err := s.webhooks.RotateSecret(r.Context(), owner(key), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, endpointJSON(ep, secret))
	return nil
}

func (s *Server) testWebhookEndpoint(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := s.readNoBody(w, r); err != nil {
		return err
	}
	d, err := s.webhooks.SendTest(r.Context(), owner(key), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, deliveryJSON(d, false))
	return nil
}

func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := onlyQuery(r, "status", "limit", "starting_after"); err != nil {
		return err
	}
	p, err := s.page(r)
	if err != nil {
		return err
	}
	ds, more, err := s.webhooks.ListDeliveries(r.Context(), owner(key), r.PathValue("id"), r.URL.Query().Get("status"), p)
	if err != nil {
		return err
	}
	out := make([]deliveryBody, len(ds))
	for i := range ds {
		out[i] = deliveryJSON(&ds[i], false)
	}
	writeJSON(w, http.StatusOK, listBody[deliveryBody]{Object: "list", Data: out, HasMore: more})
	return nil
}

func (s *Server) getWebhookDelivery(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	d, err := s.webhooks.GetDelivery(r.Context(), owner(key), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, deliveryJSON(d, true))
	return nil
}

func (s *Server) redeliverWebhook(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := s.readNoBody(w, r); err != nil {
		return err
	}
	d, err := s.webhooks.Redeliver(r.Context(), owner(key), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, deliveryJSON(d, false))
	return nil
}
