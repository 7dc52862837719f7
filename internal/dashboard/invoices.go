package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// invoicePageSize is how many invoices a list page shows.
const invoicePageSize = 50

// invoiceFilter is the list page's query, validated.
type invoiceFilter struct {
	Status, Flag, OrderID, Amount, From, To, Q, After string
	from, to                                          time.Time
}

// query returns the filter as a query string, optionally with a cursor.
func (f invoiceFilter) query(after string) string {
	v := url.Values{}
	for k, s := range map[string]string{"status": f.Status, "flag": f.Flag, "order_id": f.OrderID,
		"amount": f.Amount, "from": f.From, "to": f.To} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if after != "" {
		v.Set("after", after)
	}
	return v.Encode()
}

var flagNames = []string{"paid_partial", "paid_over", "paid_late", "double_spent", "reorged", "marked", "held",
	"confirmed_late", "outside_window", "wrong_asset"}

// parseInvoiceFilter reads the list's query strictly: known parameters,
// each once, each well formed.
func parseInvoiceFilter(r *http.Request) (invoiceFilter, error) {
	q := r.URL.Query()
	known := []string{"status", "flag", "order_id", "amount", "from", "to", "q", "after"}
	for k, vs := range q {
		if !slices.Contains(known, k) {
			return invoiceFilter{}, cryptopay.Invalid(k, "Unknown filter %q.", k)
		}
		if len(vs) > 1 {
			return invoiceFilter{}, cryptopay.Invalid(k, "Filter %q is given twice.", k)
		}
	}
	f := invoiceFilter{Status: q.Get("status"), Flag: q.Get("flag"), OrderID: q.Get("order_id"),
		Amount: strings.TrimSpace(q.Get("amount")), From: q.Get("from"), To: q.Get("to"), Q: strings.TrimSpace(q.Get("q")), After: q.Get("after")}
	if f.Status != "" {
		if _, err := cryptopay.ParseStatus("status", f.Status); err != nil {
			return f, err
		}
	}
	if f.Flag != "" && !slices.Contains(flagNames, f.Flag) {
		return f, cryptopay.Invalid("flag", "Flag %q is not one of %s.", f.Flag, strings.Join(flagNames, ", "))
	}
	if f.Amount != "" {
		if _, err := cryptopay.ParseAmount("amount", f.Amount, 18); err != nil {
			return f, err
		}
	}
	var err error
	if f.From != "" {
		if f.from, err = time.Parse(time.DateOnly, f.From); err != nil {
			return f, cryptopay.Invalid("from", "from must be a date such as 2026-12-01.")
		}
	}
	if f.To != "" {
		if f.to, err = time.Parse(time.DateOnly, f.To); err != nil {
			return f, cryptopay.Invalid("to", "to must be a date such as 2026-12-31.")
		}
	}
	if !f.from.IsZero() && !f.to.IsZero() && f.to.Before(f.from) {
		return f, cryptopay.Invalid("to", "to must not be before from.")
	}
	if f.After != "" && !cryptopay.ValidID(cryptopay.PrefixInvoice, f.After) {
		return f, cryptopay.Invalid("after", "after %q is not an invoice id.", f.After)
	}
	return f, nil
}

type invoiceList struct {
	Filter   invoiceFilter
	Invoices []cryptopay.Invoice
	Next     string // query of the next page, "" at the end
	Statuses []string
	Flags    []string
}

// invoices lists the store's invoices newest first, one page a request.
// Every filter is served by an index in storage (status, flag, price and
// order id by their own, the date range as a range of ids, which are
// time-ordered), so a page is one index walk at any number of invoices.
func (h *Handler) invoices(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := parseInvoiceFilter(r)
	if err != nil {
		return err
	}
	if f.Q != "" { // a search for one invoice by id
		if cryptopay.ValidID(cryptopay.PrefixInvoice, f.Q) {
			http.Redirect(w, r, fmt.Sprintf("/dashboard/stores/%s/invoices/%s", p.Access.Store.ID, f.Q), http.StatusSeeOther)
			return nil
		}
		f.OrderID = f.Q // anything else is an order id
	}
	q := gateway.InvoiceQuery{Status: f.Status, OrderID: f.OrderID, Flag: f.Flag, Amount: f.Amount,
		CreatedFrom: f.from, Limit: invoicePageSize, StartingAfter: f.After}
	if !f.to.IsZero() {
		q.CreatedBefore = f.to.Add(24 * time.Hour) // "to" is inclusive: the whole day
	}
	got, more, err := h.svc.ListInvoices(r.Context(), p.Access.Caller, q)
	if err != nil {
		return err
	}
	list := &invoiceList{Filter: f, Invoices: got, Statuses: []string{"new", "processing", "settled", "expired", "invalid"}, Flags: flagNames}
	if more {
		list.Next = f.query(got[len(got)-1].ID)
	}
	p.Title, p.Nav, p.Data = "Invoices", "invoices", list
	h.render(w, http.StatusOK, "invoices", p)
	return nil
}

type invoiceView struct {
	Invoice  *cryptopay.Invoice
	Events   []cryptopay.Event
	Asset    cryptopay.Currency
	Checkout string
}

// invoice shows one invoice: amounts, payments with their transactions,
// the timeline of every event, and the manual actions.
func (h *Handler) invoice(w http.ResponseWriter, r *http.Request, p *page) error {
	inv, err := h.svc.GetInvoice(r.Context(), p.Access.Caller, r.PathValue("id"))
	if err != nil {
		return err
	}
	var events []cryptopay.Event
	after := ""
	for {
		page, more, err := h.svc.ListEvents(r.Context(), p.Access.Caller, inv.ID, "", 100, after)
		if err != nil {
			return err
		}
		events = append(events, page...)
		if !more || len(page) == 0 || len(events) >= 1000 {
			break
		}
		after = page[len(page)-1].ID
	}
	slices.SortFunc(events, func(a, b cryptopay.Event) int { return int(a.Sequence - b.Sequence) })
	asset, _ := cryptopay.LookupCurrency(inv.Asset)
	// Transactions link to the store's own explorer (as on its checkout
	// page), else the gateway's, else the network's default.
	tmpl := h.explorer
	if set, err := h.svc.StoreSettings(r.Context(), p.Access.Store.ID); err != nil {
		return err
	} else if set.ExplorerTxURL != "" {
		tmpl = set.ExplorerTxURL
	}
	if tmpl == "" {
		tmpl = cryptopay.DefaultExplorerTxURL(inv.Network)
	}
	p.Explore = tmpl
	p.Title, p.Nav = "Invoice "+inv.ID, "invoices"
	p.Data = &invoiceView{Invoice: inv, Events: events, Asset: asset, Checkout: "/pay/" + inv.ID}
	h.render(w, http.StatusOK, "invoice", p)
	return nil
}

// markInvoice resolves an invoice by hand (settled or invalid) with a
// reason; the service audits it.
func (h *Handler) markInvoice(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := form(w, r, "to", "reason")
	if err != nil {
		return err
	}
	to := map[string]cryptopay.Status{"settled": cryptopay.StatusSettled, "invalid": cryptopay.StatusInvalid}[f.Get("to")]
	if to == "" {
		return cryptopay.Invalid("to", "Mark the invoice settled or invalid.")
	}
	if strings.TrimSpace(f.Get("reason")) == "" {
		return cryptopay.Invalid("reason", "Give a reason; it is kept in the audit log.")
	}
	inv, err := h.svc.MarkInvoice(r.Context(), p.Access.Caller, r.PathValue("id"), to, f.Get("reason"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/dashboard/stores/%s/invoices/%s", p.Access.Store.ID, inv.ID), http.StatusSeeOther)
	return nil
}

// releasePayment releases one held payment (its sender is blocked) after
// review: a reason and the confirmation box are required. The service
// audits it as the user, emits payment.released and from then on the
// payment counts like any other: once confirmed at the invoice's tier.
func (h *Handler) releasePayment(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := form(w, r, "reason", "confirm")
	if err != nil {
		return err
	}
	if strings.TrimSpace(f.Get("reason")) == "" {
		return cryptopay.Invalid("reason", "Give a reason; it is kept in the audit log and sent to the shop.")
	}
	if f.Get("confirm") != "yes" {
		return cryptopay.Invalid("confirm", "Tick the box to confirm the release.")
	}
	inv, _, err := h.svc.ReleasePayment(r.Context(), p.Access.Caller, r.PathValue("id"), r.PathValue("payment"), f.Get("reason"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/dashboard/stores/%s/invoices/%s", p.Access.Store.ID, inv.ID), http.StatusSeeOther)
	return nil
}
