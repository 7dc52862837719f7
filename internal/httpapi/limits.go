package httpapi

import (
	"net/http"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// The store's transaction limits (the guide's Compliance section): read
// with settings:read, changed with settings:write. Amounts are decimal
// strings in the store's currency.

// limitsRequest is the body of PATCH /v1/limits: absent fields are left
// as they are; "0" removes a limit.
type limitsRequest struct {
	MaxInvoice    *string `json:"max_invoice"`
	Daily         *string `json:"daily"`
	Monthly       *string `json:"monthly"`
	CustomerDaily *string `json:"customer_daily"`
	WarnPercent   *int    `json:"warn_percent"`
}

// limitsBody is a store's limits on the wire; null is no limit.
type limitsBody struct {
	Object        string     `json:"object"`
	StoreID       string     `json:"store_id"`
	Currency      string     `json:"currency"`
	MaxInvoice    *string    `json:"max_invoice"`
	Daily         *string    `json:"daily"`
	Monthly       *string    `json:"monthly"`
	CustomerDaily *string    `json:"customer_daily"`
	WarnPercent   int        `json:"warn_percent"`
	UpdatedAt     *time.Time `json:"updated_at"`
}

func limitsJSON(c *storage.ComplianceSettings) limitsBody {
	v := gateway.SettingsView(c)
	lim := func(k string) *string {
		if s, _ := v[k].(string); s != "" {
			return &s
		}
		return nil
	}
	var at *time.Time
	if !c.UpdatedAt.IsZero() {
		at = &c.UpdatedAt
	}
	return limitsBody{Object: "limits", StoreID: c.StoreID, Currency: c.Currency, MaxInvoice: lim("max_invoice"),
		Daily: lim("daily"), Monthly: lim("monthly"), CustomerDaily: lim("customer_daily"),
		WarnPercent: c.WarnBasisPoints / 100, UpdatedAt: at}
}

// getLimits returns the caller's store's limits.
func (s *Server) getLimits(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := onlyQuery(r); err != nil {
		return err
	}
	c, err := s.svc.Limits(r.Context(), key)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, limitsJSON(c))
	return nil
}

// updateLimits changes the caller's store's limits (audited).
func (s *Server) updateLimits(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	var req limitsRequest
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	c, err := s.svc.UpdateLimits(r.Context(), key, gateway.LimitsPatch{MaxInvoice: req.MaxInvoice, Daily: req.Daily,
		Monthly: req.Monthly, CustomerDaily: req.CustomerDaily, WarnPercent: req.WarnPercent})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, limitsJSON(c))
	return nil
}
