package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/strictjson"
)

// readBody reads the whole request body up to the server's limit. A
// non-empty body must be declared as JSON (415 otherwise): a body sent as
// a form or as text is refused rather than read as JSON regardless.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := readAll(http.MaxBytesReader(w, r.Body, s.maxBody), r.ContentLength, s.maxBody)
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, cryptopay.Errorf(cryptopay.CodeTooLarge, "The request body exceeds %d bytes.", s.maxBody)
	}
	if err != nil {
		return nil, cryptopay.Errorf(cryptopay.CodeInvalid, "The request body could not be read.")
	}
	if len(body) > 0 {
		if err := strictjson.CheckContentType(r.Header.Get("Content-Type")); err != nil {
			return nil, err
		}
	}
	return body, nil
}

// readAll is io.ReadAll with a first buffer the size of the declared
// body (one more byte, to see the end without growing), so the usual
// small request costs one allocation instead of a 512-byte guess. The
// declaration is the client's word, not bytes received: it sizes the
// buffer only up to maxPresized (as net/http's own read buffer), so a
// request that declares a large body and sends none holds no more memory
// than before; larger bodies grow as they arrive, as with io.ReadAll.
func readAll(rd io.Reader, declared, limit int64) ([]byte, error) {
	size := int64(512)
	if declared >= 0 && declared <= limit && declared < maxPresized {
		size = declared + 1
	}
	b := make([]byte, 0, size)
	for {
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow, as io.ReadAll does
		}
	}
}

// maxPresized bounds the buffer readAll allocates before any byte of the
// body has arrived.
const maxPresized = 4 << 10

// decodeJSON is the one decoder of request bodies: every handler that
// takes a body decodes it here, strictly (see package strictjson): exact
// field names, no duplicates, no unknown fields, valid UTF-8, declared
// types, one object and nothing after it. Errors are 400s naming the field.
func decodeJSON(body []byte, v any) error {
	return strictjson.Decode(body, v)
}

// readJSON reads r's body and decodes it with decodeJSON: the way a
// handler that is not wrapped by idempotent (which reads the body itself)
// takes a JSON body.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	return decodeJSON(body, v)
}

// decodeOptionalJSON is decodeJSON for a body the request may leave out:
// an empty body leaves v as it is.
func decodeOptionalJSON(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	return decodeJSON(body, v)
}

// noFields is the body of requests that take none: absent, or {}.
type noFields struct{}

// readNoBody reads the body of a request that takes no fields and refuses
// anything but nothing or {}.
func (s *Server) readNoBody(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	return decodeOptionalJSON(body, &noFields{})
}

// writeJSON writes v with status. API responses are never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"type":"api_error","code":"internal_error","message":"An internal error occurred."}}`)
	}
	h := w.Header()
	h["Content-Type"] = hdrJSON // Header.Set, sparing its canonicalisation and slice
	h["Cache-Control"] = hdrNoStore
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// intParam parses an optional positive integer query parameter; 0 means
// absent. An explicit 0 is refused rather than read as "absent", so
// limit=0 is an error instead of silently becoming the default.
func intParam(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	var n int
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || fmt.Sprint(n) != v || n < 1 {
		return 0, cryptopay.Invalid(name, "%s must be a positive integer.", name)
	}
	return n, nil
}
