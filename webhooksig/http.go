package webhooksig

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// DefaultMaxBodyBytes is the body limit [ReadAndVerify] applies when
// maxBytes is zero or negative. CryptoPay event bodies are a few kilobytes.
const DefaultMaxBodyBytes int64 = 1 << 20

// ErrBodyTooLarge: the request body is longer than the limit given to
// [ReadAndVerify]. The gateway never sends such a body, so it is refused
// before any signature work.
var ErrBodyTooLarge = errors.New("webhooksig: request body too large")

// ReadAndVerify reads a webhook request's body, at most maxBytes of it
// (DefaultMaxBodyBytes when maxBytes <= 0), and verifies it against the
// [HeaderSignature] header with DefaultTolerance and time.Now. It returns
// the raw body only when the signature is valid; decode the JSON after this
// call, never before, because the MAC covers the exact bytes.
//
// It does not fall back to [HeaderLegacySignature]: that header has no
// timestamp, and accepting it when the timestamped one is absent would let
// anyone replay a captured delivery by deleting one header. Repeated
// [HeaderSignature] lines are joined with "," as HTTP prescribes, so two t
// values are rejected as ErrBadFormat.
//
// Errors wrap the sentinels of [VerifyWithOptions], ErrBodyTooLarge, or the
// body's read error. The request body is consumed but not closed (the
// http.Server closes it).
func ReadAndVerify(r *http.Request, secret string, maxBytes int64) ([]byte, error) {
	return ReadAndVerifyWithOptions(r, secret, maxBytes, Options{})
}

// ReadAndVerifyWithOptions is [ReadAndVerify] with a custom tolerance or
// clock; see [Options].
func ReadAndVerifyWithOptions(r *http.Request, secret string, maxBytes int64, opts Options) ([]byte, error) {
	if secret == "" {
		return nil, ErrEmptySecret
	}
	header := strings.Join(r.Header.Values(HeaderSignature), ",")
	if header == "" {
		// Checked before reading so an unsigned flood costs no body reads.
		return nil, ErrNoHeader
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBodyBytes
	}
	if r.ContentLength > maxBytes {
		return nil, fmt.Errorf("%w: Content-Length %d over limit %d", ErrBodyTooLarge, r.ContentLength, maxBytes)
	}
	var body []byte
	if r.Body != nil {
		var err error
		// One byte past the limit tells "exactly maxBytes" from "more".
		body, err = io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
		if err != nil {
			return nil, fmt.Errorf("webhooksig: reading request body: %w", err)
		}
		if int64(len(body)) > maxBytes {
			return nil, fmt.Errorf("%w: over limit %d", ErrBodyTooLarge, maxBytes)
		}
	}
	if err := VerifyWithOptions(body, header, secret, opts); err != nil {
		return nil, err
	}
	return body, nil
}
