package dashboard

import (
	"context"
	"net/http"
	"strconv"

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
		if k != "action" && k != "before" {
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
	if p.User.User.Operator {
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
