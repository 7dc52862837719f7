package dashboard

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

func owner(p *page) webhook.Owner {
	return webhook.Owner{StoreID: p.Access.Store.ID, Livemode: p.Access.Store.Livemode}
}

func (h *Handler) endpoints(w http.ResponseWriter, r *http.Request, p *page) error {
	eps, _, err := h.hooks.ListEndpoints(r.Context(), owner(p), storage.Page{Limit: 100})
	if err != nil {
		return err
	}
	p.Title, p.Nav, p.Data = "Webhooks", "webhooks", eps
	h.render(w, http.StatusOK, "webhooks", p)
	return nil
}

type endpointView struct {
	Endpoint   *cryptopay.WebhookEndpoint
	Deliveries []cryptopay.WebhookDelivery
	Secret     string // a rotated secret, shown once
	// FormID names the secret the rotate form replaces (webhook.
	// SecretVersion): the form rotates at most once however often it is
	// sent.
	FormID string
}

func (h *Handler) renderEndpoint(w http.ResponseWriter, r *http.Request, p *page, id, secret string) error {
	ep, err := h.hooks.GetEndpoint(r.Context(), owner(p), id)
	if err != nil {
		return err
	}
	ds, _, err := h.hooks.ListDeliveries(r.Context(), owner(p), ep.ID, "", storage.Page{Limit: 100})
	if err != nil {
		return err
	}
	p.Title, p.Nav = "Webhook endpoint "+ep.ID, "webhooks"
	p.Data = &endpointView{Endpoint: ep, Deliveries: ds, Secret: secret, FormID: webhook.SecretVersion(ep)}
	h.render(w, http.StatusOK, "endpoint", p)
	return nil
}

func (h *Handler) endpoint(w http.ResponseWriter, r *http.Request, p *page) error {
	return h.renderEndpoint(w, r, p, r.PathValue("id"), "")
}

// testEndpoint queues a test event to the endpoint.
func (h *Handler) testEndpoint(w http.ResponseWriter, r *http.Request, p *page) error {
	if _, err := form(w, r); err != nil {
		return err
	}
	d, err := h.hooks.SendTest(r.Context(), owner(p), r.PathValue("id"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/dashboard/stores/%s/deliveries/%s", p.Access.Store.ID, d.ID), http.StatusSeeOther)
	return nil
}

// rotateEndpoint replaces the signing secret and shows the new one once.
// The form carries the version of the secret it replaces (form_id): sent
// again (a reload of the page that showed the new secret, a double click)
// it finds the secret rotated already, rotates nothing and says the new
// secret was shown once; a second rotation would silently invalidate the
// secret the merchant just copied.
func (h *Handler) rotateEndpoint(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := form(w, r, "form_id")
	if err != nil {
		return err
	}
	ep, secret, err := h.hooks.RotateSecretOnce(r.Context(), owner(p), r.PathValue("id"), f.Get("form_id"))
	if errors.Is(err, webhook.ErrSecretFormUsed) {
		p.Error = webhook.ErrSecretFormUsed.Message
		return h.renderEndpoint(w, r, p, r.PathValue("id"), "")
	}
	if err != nil {
		return err
	}
	p.Flash = "The signing secret was rotated. Put the new secret in your shop now; the previous one keeps signing beside it until the time shown below."
	return h.renderEndpoint(w, r, p, ep.ID, secret)
}

func (h *Handler) delivery(w http.ResponseWriter, r *http.Request, p *page) error {
	d, err := h.hooks.GetDelivery(r.Context(), owner(p), r.PathValue("id"))
	if err != nil {
		return err
	}
	p.Title, p.Nav, p.Data = "Delivery "+d.ID, "webhooks", d
	h.render(w, http.StatusOK, "delivery", p)
	return nil
}

func (h *Handler) redeliver(w http.ResponseWriter, r *http.Request, p *page) error {
	if _, err := form(w, r); err != nil {
		return err
	}
	d, err := h.hooks.Redeliver(r.Context(), owner(p), r.PathValue("id"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/dashboard/stores/%s/deliveries/%s", p.Access.Store.ID, d.ID), http.StatusSeeOther)
	return nil
}
