package httpapi

import (
	"net/http"

	"github.com/cryptopay/cryptopay"
)

// markRequest is the body of POST /v1/invoices/{id}/mark_settled and
// mark_invalid: why the state is set by hand. It is recorded in the audit
// log and sent in the event.
type markRequest struct {
	Reason string `json:"reason"`
}

// markInvoice returns the handler that marks an invoice with status to.
func (s *Server) markInvoice(to cryptopay.Status) keyedHandler {
	return func(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey, body []byte) error {
		var req markRequest
		if err := decodeJSON(body, &req); err != nil {
			return err
		}
		inv, err := s.svc.MarkInvoice(r.Context(), key, r.PathValue("id"), to, req.Reason)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, s.invoiceJSON(r, inv))
		return nil
	}
}
