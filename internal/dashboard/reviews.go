package dashboard

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Alerts are the store's reviews: each monitoring alert that concerns an
// invoice or payment (high value, unusual activity, a blocked sender, a
// held payment) opens one, with its evidence, for the shop's people to
// look at and resolve with a note (gateway.ResolveReview, audited).
//
// The page is for the roles that resolve them, staff and owner (the API
// scope invoices:write, which resolving needs). Listing through the API
// needs audit:read, which staff lack; the dashboard shows staff the
// reviews of their own store because a review is work on that store's
// invoices, and its evidence is those invoices' payments, which staff
// already see.

type alertsView struct {
	Status  string // "open", "resolved" or "" for both
	Reviews []storage.Review
	Next    string
}

func (h *Handler) alerts(w http.ResponseWriter, r *http.Request, p *page) error {
	q := r.URL.Query()
	for k := range q {
		if k != "status" && k != "after" {
			return cryptopay.Invalid(k, "Unknown filter %q.", k)
		}
	}
	v := &alertsView{Status: q.Get("status")}
	if _, ok := q["status"]; !ok {
		v.Status = storage.ReviewOpen
	}
	rs, more, err := h.svc.ListReviews(r.Context(), p.Access.Caller, gateway.ReviewQuery{Status: v.Status, Limit: 50,
		StartingAfter: q.Get("after")})
	if err != nil {
		return err
	}
	v.Reviews = rs
	if more && len(rs) > 0 {
		v.Next = rs[len(rs)-1].ID
	}
	p.Title, p.Nav, p.Data = "Alerts", "alerts", v
	h.render(w, http.StatusOK, "alerts", p)
	return nil
}

// resolveReview resolves an open review with the user's note; the audit
// entry names the user.
func (h *Handler) resolveReview(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := form(w, r, "note")
	if err != nil {
		return err
	}
	note := strings.TrimSpace(f.Get("note"))
	if note == "" {
		return cryptopay.Invalid("note", "Write a note saying what you found and did; it is kept in the audit log.")
	}
	rv, err := h.svc.ResolveReview(r.Context(), p.Access.Caller, r.PathValue("id"), note)
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/dashboard/stores/%s/alerts?status=resolved#%s", p.Access.Store.ID, rv.ID), http.StatusSeeOther)
	return nil
}
