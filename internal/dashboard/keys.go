package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

type keysView struct {
	Keys   []cryptopay.APIKey
	Scopes []cryptopay.Scope
	Now    time.Time
	Secret string // a new key's secret, shown once
	// FormID is the id the create form's key will have: minted with the
	// page, so the form makes at most one key however often it is sent.
	FormID string
}

// ExpiresSoon reports whether a key expires within the notice period the
// API warns about; the page highlights it.
func (v *keysView) ExpiresSoon(k cryptopay.APIKey) bool {
	return k.Active(v.Now) && k.ExpiresAt.Sub(v.Now) < cryptopay.KeyExpiryNotice
}

// Active reports whether the key works now.
func (v *keysView) Active(k cryptopay.APIKey) bool { return k.Active(v.Now) }

func (h *Handler) renderKeys(w http.ResponseWriter, r *http.Request, p *page, secret string) error {
	ks, err := h.svc.ListKeys(r.Context(), p.Access.Store.ID)
	if err != nil {
		return err
	}
	p.Title, p.Nav = "API keys", "keys"
	p.Data = &keysView{Keys: ks, Scopes: cryptopay.AllScopes, Now: h.svc.Now(), Secret: secret, FormID: h.svc.NewFormKeyID()}
	h.render(w, http.StatusOK, "keys", p)
	return nil
}

func (h *Handler) keys(w http.ResponseWriter, r *http.Request, p *page) error {
	return h.renderKeys(w, r, p, "")
}

// formIDLifetime bounds how long a create-key form stays usable.
const formIDLifetime = 24 * time.Hour

// createKey makes a key within the user's role (the service refuses more)
// and shows its secret once, on this response only: it is never stored.
// The form carries the new key's id (form_id, minted with the page): a
// second POST of the same form (a reload of this response, a double
// click) finds the key made and creates nothing, and the page says the
// secret was shown once.
func (h *Handler) createKey(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := form(w, r, "name", "scopes[]", "expires_in_days", "allowed_ips", "form_id")
	if err != nil {
		return err
	}
	id := f.Get("form_id")
	if !cryptopay.ValidID(cryptopay.PrefixAPIKey, id) {
		return cryptopay.Invalid("form_id", "The form is incomplete; reload the page and try again.")
	}
	if id < cryptopay.FirstIDAt(cryptopay.PrefixAPIKey, h.svc.Now().Add(-formIDLifetime)) {
		return cryptopay.Invalid("form_id", "The form is more than a day old; reload the page and try again.")
	}
	params := gateway.KeyParams{ID: id, Name: strings.TrimSpace(f.Get("name")), Scopes: f["scopes[]"]}
	if d := f.Get("expires_in_days"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 || n > 365 {
			return cryptopay.Invalid("expires_in_days", "Expiry must be a whole number of days from 1 to 365.")
		}
		params.TTL = time.Duration(n) * 24 * time.Hour
	}
	params.AllowedIPs = strings.FieldsFunc(f.Get("allowed_ips"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' })
	ck, err := h.svc.CreateKeyAs(r.Context(), p.Access.Caller, params)
	if errors.Is(err, gateway.ErrKeyFormUsed) {
		p.Error = gateway.ErrKeyFormUsed.Message
		return h.renderKeys(w, r, p, "")
	}
	if err != nil {
		return err
	}
	p.Flash = fmt.Sprintf("Key %s created.", ck.Key.ID)
	return h.renderKeys(w, r, p, ck.Secret)
}

// rotateKey replaces a key, showing the new secret once. A key already
// rotated is not rotated again from here: the form was most likely sent
// twice (a reload of the page that showed the new secret), and a second
// rotation would make another key and show another secret.
func (h *Handler) rotateKey(w http.ResponseWriter, r *http.Request, p *page) error {
	if _, err := form(w, r); err != nil {
		return err
	}
	k, err := h.svc.GetKey(r.Context(), p.Access.Caller, r.PathValue("id"))
	if err != nil {
		return err
	}
	if k.RotatedTo != "" {
		p.Error = fmt.Sprintf("Key %s was already rotated to %s; that key's secret was shown once, when it was made. Rotate %s for a new secret.", k.ID, k.RotatedTo, k.RotatedTo)
		return h.renderKeys(w, r, p, "")
	}
	ck, err := h.svc.RotateKey(r.Context(), p.Access.Caller, r.PathValue("id"), -1)
	if err != nil {
		return err
	}
	p.Flash = fmt.Sprintf("Key %s replaced by %s; the old key keeps working for 24 hours.", r.PathValue("id"), ck.Key.ID)
	return h.renderKeys(w, r, p, ck.Secret)
}

func (h *Handler) revokeKey(w http.ResponseWriter, r *http.Request, p *page) error {
	if _, err := form(w, r); err != nil {
		return err
	}
	k, err := h.svc.RevokeKey(r.Context(), p.Access.Caller, r.PathValue("id"))
	if err != nil {
		return err
	}
	p.Flash = fmt.Sprintf("Key %s revoked; it stops working at once.", k.ID)
	return h.renderKeys(w, r, p, "")
}
