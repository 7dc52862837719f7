package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

const maxIdempotencyKeyLen = 255

type keyedHandler func(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey, body []byte) error

// idempotent gives a POST Stripe's Idempotency-Key semantics:
//
//   - Records belong to the API key that made the request: another key,
//     even of the same store, never sees or replays them.
//   - The record is written in the transaction of the request's effect
//     (gateway.ClaimIdempotencyKey), so a concurrent duplicate waits for
//     that transaction and finds the record instead of making the effect
//     twice; while the first response is not yet recorded a duplicate gets
//     409 idempotency_in_progress.
//   - The same key with the same request replays the first response; with
//     a different request it is 422 idempotency_mismatch.
//   - A response that carries a secret (a new API key, a webhook signing
//     secret) is never stored: a replay is 409
//     idempotency_secret_shown_once.
//   - A request that fails (a validation error, a conflict, a 5xx) leaves
//     no record, since its transaction rolled back: a retry runs again.
func (s *Server) idempotent(h keyedHandler) func(http.ResponseWriter, *http.Request, *cryptopay.APIKey) error {
	return func(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
		body, err := s.readBody(w, r)
		if err != nil {
			return err
		}
		ikey := r.Header.Get("Idempotency-Key")
		if ikey == "" {
			return h(w, r, key, body)
		}
		if len(ikey) > maxIdempotencyKeyLen {
			return cryptopay.Invalid("Idempotency-Key", "Idempotency-Key must be at most %d characters.", maxIdempotencyKeyLen)
		}
		sum := sha256.Sum256(bytes.Join([][]byte{[]byte(r.Method), []byte(r.URL.Path), body}, []byte{0}))
		ctx := r.Context()
		db := s.svc.DB()
		if prev, err := db.GetIdempotencyRecord(ctx, key.ID, ikey); err == nil {
			return s.replay(w, r, key, prev, sum[:])
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		claim := &gateway.IdempotencyClaim{APIKeyID: key.ID, Key: ikey, Method: r.Method, Path: r.URL.Path,
			RequestHash: sum[:], CreatedAt: s.svc.Now()}
		r = r.WithContext(gateway.WithIdempotencyClaim(ctx, claim))
		rec := newBufferedResponse()
		herr := h(rec, r, key, body)
		claimed, secret, taken := claim.Outcome()
		switch {
		case taken:
			// A concurrent request with the same key made the effect first.
			prev, err := db.GetIdempotencyRecord(ctx, key.ID, ikey)
			if errors.Is(err, storage.ErrNotFound) {
				return inProgress() // its transaction has not committed yet
			}
			if err != nil {
				return err
			}
			return s.replay(w, r, key, prev, sum[:])
		case herr != nil:
			s.writeError(rec, r, herr)
		case !claimed:
			// Every operation behind an idempotent route claims its key in
			// its transaction; one that does not would run twice on retry.
			s.log.ErrorContext(ctx, "idempotent request made no idempotency record", "request_id", requestID(ctx), "path", r.URL.Path)
		case !secret:
			stored, err := s.storedResponse(r, rec.Body.Bytes())
			if err == nil {
				err = db.InTx(ctx, func(tx storage.Tx) error {
					return tx.CompleteIdempotencyRecord(ctx, key.ID, ikey, rec.Code, stored)
				})
			}
			if err != nil {
				// The effect stands; a retry is told it is in progress
				// rather than made twice.
				s.log.WarnContext(ctx, "complete idempotency record", "request_id", requestID(ctx), "err", err)
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return nil
	}
}

// storedResponse is the form of a response body its idempotency record
// keeps: a response about an invoice is sealed with the key of the
// invoice's customer (gateway.SealStoredResponse), so erasing the
// customer erases the copy too.
func (s *Server) storedResponse(r *http.Request, body []byte) ([]byte, error) {
	var head struct {
		Object string `json:"object"`
		ID     string `json:"id"`
	}
	if json.Unmarshal(body, &head) != nil || head.Object != "invoice" {
		return body, nil
	}
	return s.svc.SealStoredResponse(r.Context(), head.ID, body)
}

// replay answers a request whose Idempotency-Key has a record. A stored
// response about an invoice whose customer has since been erased cannot
// be opened any more; the replay then answers, with the first response's
// status, the invoice as it is now (its personal fields empty): the
// request's effect is still reported once, and nothing erased comes back.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey, prev *storage.IdempotencyRecord, sum []byte) error {
	if !bytes.Equal(prev.RequestHash, sum) {
		return &cryptopay.Error{Code: cryptopay.CodeIdempotency, Param: "Idempotency-Key",
			Message: "This Idempotency-Key was already used with a different request; use a new key for a new request."}
	}
	switch prev.State {
	case storage.IdempotencyDone:
	case storage.IdempotencySecretShown:
		return &cryptopay.Error{Code: cryptopay.CodeIdempotencySecretShown, Param: "Idempotency-Key",
			Message: "The request with this Idempotency-Key succeeded, and its response carried a secret that is shown only once; it is not replayed. List the objects to find the one it created."}
	default:
		return inProgress()
	}
	body, invoiceID, err := s.svc.OpenStoredResponse(r.Context(), prev.Body)
	if errors.Is(err, gateway.ErrStoredResponseErased) {
		inv, err := s.svc.GetInvoice(r.Context(), key, invoiceID)
		if err != nil {
			return err
		}
		if body, err = json.Marshal(s.invoiceJSON(r, inv)); err != nil {
			return err
		}
		body = append(body, '\n')
	} else if err != nil {
		return err
	}
	w.Header().Set("Idempotent-Replayed", "true")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(prev.Status)
	_, _ = w.Write(body)
	return nil
}

func inProgress() error {
	return &cryptopay.Error{Code: cryptopay.CodeIdempotencyInProgress, Param: "Idempotency-Key",
		Message: "A request with this Idempotency-Key has made its change and its response is not recorded yet; retry in a moment, or fetch the object instead."}
}

// bufferedResponse holds a response in memory so it can be stored before
// it is sent.
type bufferedResponse struct {
	header http.Header
	Code   int
	Body   bytes.Buffer
}

func newBufferedResponse() *bufferedResponse {
	return &bufferedResponse{header: http.Header{}, Code: http.StatusOK}
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.Body.Write(p) }
func (b *bufferedResponse) WriteHeader(code int)        { b.Code = code }
