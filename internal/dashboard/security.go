package dashboard

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

type securityView struct {
	Action  string
	Entries []storage.AuditEntry
	Next    string
	Blocked []storage.BlockedAddress
	// Operator-only, gateway-wide: the audit log's verification and the
	// pre-production checklist.
	Verified *verifyResult
	Doctor   []CheckResult
	// Operator: the viewer may unblock addresses and freeze or unfreeze
	// the gateway (both gateway-wide). Incidents are the incident actions
	// in force; Frozen says whether one is a freeze.
	Operator  bool
	Frozen    bool
	Incidents []storage.IncidentAction
}

type verifyResult struct {
	Entries int64
	Err     string
}

// security shows the store's audit log (filter by action, page by
// sequence), the blocked sending addresses of the store's mode, and for
// an operator the audit log's verification and the doctor checklist.
func (h *Handler) security(w http.ResponseWriter, r *http.Request, p *page) error {
	q := r.URL.Query()
	for k := range q {
		if k != "action" && k != "before" && k != "done" {
			return cryptopay.Invalid(k, "Unknown filter %q.", k)
		}
	}
	v := &securityView{Action: q.Get("action")}
	var before int64
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 1 {
			return cryptopay.Invalid("before", "before must be a positive sequence number.")
		}
		before = n
	}
	entries, more, err := h.svc.ListAuditEntries(r.Context(), p.Access.Caller, gateway.AuditQuery{Action: v.Action, Limit: 100, BeforeSeq: before})
	if err != nil {
		return err
	}
	v.Entries = entries
	if more && len(entries) > 0 {
		v.Next = strconv.FormatInt(entries[len(entries)-1].Seq, 10)
	}
	if v.Blocked, err = h.svc.ListBlockedAddresses(r.Context(), p.Access.Caller, 100); err != nil {
		return err
	}
	if v.Incidents, err = h.svc.IncidentActions(r.Context()); err != nil {
		return err
	}
	for _, a := range v.Incidents {
		v.Frozen = v.Frozen || a.Action == gateway.IncidentFreeze
	}
	if p.User.User.Operator {
		v.Operator = true
		if h.verifyAudit != nil {
			n, err := h.verifyAudit(r.Context())
			v.Verified = &verifyResult{Entries: n}
			if err != nil {
				v.Verified.Err = err.Error()
			}
		}
		if h.doctor != nil {
			v.Doctor = h.doctor(r.Context())
		}
	}
	p.Flash = securityMessages[q.Get("done")]
	p.Title, p.Nav, p.Data = "Security", "security", v
	h.render(w, http.StatusOK, "security", p)
	return nil
}

// VerifyAuditFunc verifies the whole audit log (with the keyring and
// checkpoints serve knows) and returns how many entries are intact.
type VerifyAuditFunc func(ctx context.Context) (int64, error)

// CheckResult is one item of the pre-production checklist as the page
// shows it (internal/doctor's result; kept apart so this package does not
// import the checks, which test the API server this package is part of).
type CheckResult struct {
	Name, Status, Detail, Fix string
}

// DoctorFunc runs the pre-production checklist (serve passes one bound to
// its configuration).
type DoctorFunc func(ctx context.Context) []CheckResult

var securityMessages = map[string]string{
	"unblocked": "Address unblocked; its failure count starts again from zero. Payments it sent while blocked stay held: resolve each on its invoice.",
	"frozen":    "The gateway is frozen: no new live invoices are accepted until it is unfrozen. Chain watching and webhooks continue.",
	"unfrozen":  "The gateway is unfrozen; live invoices are accepted again.",
}

// operator wraps the gateway-wide actions of the security page: only an
// operator user may take them, whatever its role in the store shown.
func (h *Handler) operator(fn func(w http.ResponseWriter, r *http.Request, p *page) error) http.HandlerFunc {
	return h.store(cryptopay.ScopeAuditRead, func(w http.ResponseWriter, r *http.Request, p *page) error {
		if !p.User.User.Operator {
			return cryptopay.Errorf(cryptopay.CodeForbidden, "Only an operator may do this: it changes the whole gateway, not one store.")
		}
		return fn(w, r, p)
	})
}

func securityDone(w http.ResponseWriter, r *http.Request, p *page, what string) {
	http.Redirect(w, r, "/dashboard/stores/"+p.Access.Store.ID+"/security?done="+what+"#incident", http.StatusSeeOther)
}

// unblock lifts the block on a sending address (gateway.UnblockAddress,
// audited). Blocks are gateway-wide, so only an operator may.
func (h *Handler) unblock(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := form(w, r, "network", "address")
	if err != nil {
		return err
	}
	if _, err := h.svc.UnblockAddress(r.Context(), f.Get("network"), f.Get("address")); err != nil {
		return err
	}
	http.Redirect(w, r, "/dashboard/stores/"+p.Access.Store.ID+"/security?done=unblocked#blocked", http.StatusSeeOther)
	return nil
}

// freeze stops the gateway accepting new live invoices (gateway.Freeze,
// audited). The form must carry the confirmation box.
func (h *Handler) freeze(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := form(w, r, "reason", "confirm")
	if err != nil {
		return err
	}
	if f.Get("confirm") != "yes" {
		return cryptopay.Invalid("confirm", "Tick the box to confirm: a freeze refuses every new live invoice of every store.")
	}
	if _, err := h.svc.Freeze(r.Context(), strings.TrimSpace(f.Get("reason"))); err != nil {
		return err
	}
	securityDone(w, r, p, "frozen")
	return nil
}

// unfreeze closes the incident actions in force (gateway.Unfreeze,
// audited). The form must carry the confirmation box.
func (h *Handler) unfreeze(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := form(w, r, "confirm")
	if err != nil {
		return err
	}
	if f.Get("confirm") != "yes" {
		return cryptopay.Invalid("confirm", "Tick the box to confirm that the incident is over.")
	}
	if _, err := h.svc.Unfreeze(r.Context()); err != nil {
		return err
	}
	securityDone(w, r, p, "unfrozen")
	return nil
}
