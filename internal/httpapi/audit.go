package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// auditEventBody is an audit log entry on the wire. The hashes let a
// client keep its own copy of the chain.
type auditEventBody struct {
	Object    string          `json:"object"`
	ID        string          `json:"id"`
	Seq       int64           `json:"seq"`
	Livemode  bool            `json:"livemode"`
	Actor     string          `json:"actor"`
	Action    string          `json:"action"`
	Target    string          `json:"target"`
	SourceIP  string          `json:"source_ip"`
	RequestID string          `json:"request_id"`
	Details   json.RawMessage `json:"details"`
	Created   int64           `json:"created"`
	PrevHash  string          `json:"prev_hash"`
	Hash      string          `json:"hash"`
}

func auditEventJSON(e *storage.AuditEntry) auditEventBody {
	return auditEventBody{Object: "audit_event", ID: e.ID, Seq: e.Seq, Livemode: e.Livemode, Actor: e.Actor,
		Action: e.Action, Target: e.Target, SourceIP: e.SourceIP, RequestID: e.RequestID,
		Details: json.RawMessage(e.Details), Created: e.CreatedAt.Unix(),
		PrevHash: hexString(e.PrevHash), Hash: hexString(e.Hash)}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

func (s *Server) listAuditEvents(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := onlyQuery(r, "action", "limit", "before_seq"); err != nil {
		return err
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		return err
	}
	var before int64
	if v := r.URL.Query().Get("before_seq"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			return cryptopay.Invalid("before_seq", "before_seq must be a positive integer.")
		}
	}
	es, more, err := s.svc.ListAuditEntries(r.Context(), key, gateway.AuditQuery{
		Action: r.URL.Query().Get("action"), Limit: limit, BeforeSeq: before})
	if err != nil {
		return err
	}
	out := make([]auditEventBody, len(es))
	for i := range es {
		out[i] = auditEventJSON(&es[i])
	}
	writeJSON(w, http.StatusOK, listBody[auditEventBody]{Object: "list", Data: out, HasMore: more})
	return nil
}

func (s *Server) redactInvoice(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := s.readNoBody(w, r); err != nil {
		return err
	}
	inv, err := s.svc.RedactInvoice(r.Context(), key, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.invoiceJSON(r, inv))
	return nil
}

// actor is who the authenticated request acts as, for the audit log.
func actor(r *http.Request, key *cryptopay.APIKey) gateway.Actor {
	var a gateway.Actor
	if f := factsOf(r.Context()); f != nil && f.resolved {
		a.RequestID, a.IP = f.id, f.ipText // the address as withProxy resolved and formatted it
	} else {
		a.RequestID = requestID(r.Context())
		if ip := clientIP(r); ip.IsValid() {
			a.IP = ip.String()
		}
	}
	if key != nil {
		a.KeyID = key.ID
	}
	return a
}
