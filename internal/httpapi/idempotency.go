package httpapi

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"net/http"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

const maxIdempotencyKeyLen = 255

type keyedHandler func(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey, body []byte) error

// idempotent gives a POST Stripe's Idempotency-Key semantics: the same key
// with the same request replays the first response; the same key with a
// different request is a 422. Responses of 5xx are not stored, so a retry
// after a failure runs again.
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
		// Keys are per store and per mode: a test key's Idempotency-Key
		// never replays a live response.
		store, ikey := key.StoreID, modeScope(key.Livemode)+":"+ikey
		sum := sha256.Sum256(bytes.Join([][]byte{[]byte(r.Method), []byte(r.URL.Path), body}, []byte{0}))
		ctx := r.Context()
		if prev, err := s.svc.DB().GetIdempotencyRecord(ctx, store, ikey); err == nil {
			return replay(w, prev, sum[:])
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		rec := newBufferedResponse()
		if err := h(rec, r, key, body); err != nil {
			s.writeError(rec, r, err)
		}
		if rec.Code < 500 {
			record := &storage.IdempotencyRecord{
				StoreID: store, Key: ikey, Method: r.Method, Path: r.URL.Path,
				RequestHash: sum[:], Status: rec.Code, Body: rec.Body.Bytes(), CreatedAt: s.svc.Now(),
			}
			err := s.svc.DB().InTx(ctx, func(tx storage.Tx) error { return tx.PutIdempotencyRecord(ctx, record) })
			if _, raced := errors.AsType[*storage.ConflictError](err); raced {
				// A concurrent request with the same key stored first; answer
				// as it did.
				if prev, err := s.svc.DB().GetIdempotencyRecord(ctx, store, ikey); err == nil {
					return replay(w, prev, sum[:])
				}
			} else if err != nil {
				s.log.WarnContext(ctx, "store idempotency record", "request_id", requestID(ctx), "err", err)
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

func replay(w http.ResponseWriter, prev *storage.IdempotencyRecord, sum []byte) error {
	if !bytes.Equal(prev.RequestHash, sum) {
		return &cryptopay.Error{Code: cryptopay.CodeIdempotency, Param: "Idempotency-Key",
			Message: "This Idempotency-Key was already used with a different request; use a new key for a new request."}
	}
	w.Header().Set("Idempotent-Replayed", "true")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(prev.Status)
	_, _ = w.Write(prev.Body)
	return nil
}

func modeScope(live bool) string {
	if live {
		return "live"
	}
	return "test"
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
