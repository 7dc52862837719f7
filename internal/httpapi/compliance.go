package httpapi

import (
	"bytes"
	"net/http"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/reports"
)

// The compliance endpoints: reviews opened by monitoring alerts, the
// suspicious activity report, and a customer's export and erasure.

// listReviews lists the store's reviews newest first.
func (s *Server) listReviews(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := onlyQuery(r, "status", "limit", "starting_after"); err != nil {
		return err
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	rs, more, err := s.svc.ListReviews(r.Context(), key, gateway.ReviewQuery{Status: q.Get("status"), Limit: limit,
		StartingAfter: q.Get("starting_after")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listBody[reports.ReviewView]{Object: "list", Data: reports.ReviewViews(rs), HasMore: more})
	return nil
}

type resolveReviewRequest struct {
	Note string `json:"note"`
}

// resolveReview resolves an open review with the staff's note.
func (s *Server) resolveReview(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	var req resolveReviewRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	rv, err := s.svc.ResolveReview(r.Context(), key, r.PathValue("id"), req.Note)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reports.ReviewViews(toSlice(rv))[0])
	return nil
}

// suspiciousReport exports the store's reviews opened in [from, to) with
// their evidence, as JSON or CSV (format=csv).
func (s *Server) suspiciousReport(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := onlyQuery(r, "from", "to", "format"); err != nil {
		return err
	}
	q := r.URL.Query()
	from, err := timeParam("from", q.Get("from"))
	if err != nil {
		return err
	}
	to, err := timeParam("to", q.Get("to"))
	if err != nil {
		return err
	}
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" {
		return cryptopay.Invalid("format", "format must be json or csv.")
	}
	rs, err := s.svc.AllReviews(r.Context(), key, gateway.ReviewQuery{From: from, To: to})
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := reports.WriteSAR(&b, format, rs); err != nil {
		return err
	}
	ct := "application/json"
	if format == "csv" {
		ct = "text/csv; charset=utf-8"
		w.Header().Set("Content-Disposition", `attachment; filename="suspicious-activity.csv"`)
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
	return nil
}

// timeParam reads a required RFC 3339 time or YYYY-MM-DD date (UTC).
func timeParam(name, v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, cryptopay.Invalid(name, "%s is required: an RFC 3339 time or a YYYY-MM-DD date.", name)
}

// exportCustomer returns everything held about a customer_reference.
func (s *Server) exportCustomer(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := onlyQuery(r); err != nil {
		return err
	}
	x, err := s.svc.ExportCustomer(r.Context(), key.StoreID, key.Livemode, r.PathValue("customer_reference"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reports.ExportView(x))
	return nil
}

// eraseCustomer erases a customer_reference by crypto-shredding.
func (s *Server) eraseCustomer(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := s.readNoBody(w, r); err != nil {
		return err
	}
	e, err := s.svc.EraseCustomer(r.Context(), key.StoreID, key.Livemode, r.PathValue("customer_reference"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "customer_erasure", "customer_reference": e.CustomerReference,
		"subject_id": e.Subject, "invoices": e.Invoices, "already_erased": e.AlreadyErased, "erased_at": e.ErasedAt.Unix()})
	return nil
}

func toSlice[T any](v *T) []T { return []T{*v} }
