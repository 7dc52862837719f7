package httpapi

import (
	"net/http"

	"github.com/cryptopay/cryptopay"
)

// releaseRequest is the body of POST
// /v1/invoices/{id}/payments/{payment_id}/release: why the held payment is
// released. It is recorded in the audit log and sent as data.reason of
// payment.released.
type releaseRequest struct {
	Reason string `json:"reason"`
}

// releasePayment releases one held payment of an invoice (its sender was
// blocked) and answers with the invoice as it is after the release.
func (s *Server) releasePayment(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey, body []byte) error {
	var req releaseRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	inv, _, err := s.svc.ReleasePayment(r.Context(), key, r.PathValue("id"), r.PathValue("payment_id"), req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.invoiceJSON(r, inv))
	return nil
}
