package dashboard

import (
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
	p.Data = &keysView{Keys: ks, Scopes: cryptopay.AllScopes, Now: h.svc.Now(), Secret: secret}
	h.render(w, http.StatusOK, "keys", p)
	return nil
}

func (h *Handler) keys(w http.ResponseWriter, r *http.Request, p *page) error {
	return h.renderKeys(w, r, p, "")
}

// createKey makes a key within the user's role (the service refuses more)
// and shows its secret once, on this response only: it is never stored,
// and reloading the page does not show it again.
func (h *Handler) createKey(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := form(w, r, "name", "scopes[]", "expires_in_days", "allowed_ips")
	if err != nil {
		return err
	}
	params := gateway.KeyParams{Name: strings.TrimSpace(f.Get("name")), Scopes: f["scopes[]"]}
	if d := f.Get("expires_in_days"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 || n > 365 {
			return cryptopay.Invalid("expires_in_days", "Expiry must be a whole number of days from 1 to 365.")
		}
		params.TTL = time.Duration(n) * 24 * time.Hour
	}
	params.AllowedIPs = strings.FieldsFunc(f.Get("allowed_ips"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' })
	ck, err := h.svc.CreateKeyAs(r.Context(), p.Access.Caller, params)
	if err != nil {
		return err
	}
	p.Flash = fmt.Sprintf("Key %s created.", ck.Key.ID)
	return h.renderKeys(w, r, p, ck.Secret)
}

func (h *Handler) rotateKey(w http.ResponseWriter, r *http.Request, p *page) error {
	if _, err := form(w, r); err != nil {
		return err
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
