package httpapi

import (
	"errors"
	"net/http"

	"github.com/cryptopay/cryptopay"
)

// statusOf is the one table from error code to HTTP status.
var statusOf = map[cryptopay.Code]int{
	cryptopay.CodeInvalid:          http.StatusBadRequest,
	cryptopay.CodeNotFound:         http.StatusNotFound,
	cryptopay.CodeConflict:         http.StatusConflict,
	cryptopay.CodeInvalidState:     http.StatusConflict,
	cryptopay.CodeIdempotency:      http.StatusUnprocessableEntity,
	cryptopay.CodeUnauthenticated:  http.StatusUnauthorized,
	cryptopay.CodeForbidden:        http.StatusForbidden,
	cryptopay.CodeRateLimited:      http.StatusTooManyRequests,
	cryptopay.CodeTooLarge:         http.StatusRequestEntityTooLarge,
	cryptopay.CodeUnavailable:      http.StatusServiceUnavailable,
	cryptopay.CodeInternal:         http.StatusInternalServerError,
	cryptopay.CodeMethodNotAllowed: http.StatusMethodNotAllowed,

	cryptopay.CodeKeyExceedsCaller:       http.StatusForbidden,
	cryptopay.CodeIdempotencyInProgress:  http.StatusConflict,
	cryptopay.CodeIdempotencySecretShown: http.StatusConflict,
	// The database is restarting or failing over: the request changed
	// nothing and may be retried (see retryAfterUnavailable).
	cryptopay.CodeDatabaseUnavailable:  http.StatusServiceUnavailable,
	cryptopay.CodeUnsupportedMediaType: http.StatusUnsupportedMediaType, // a body not sent as application/json
	cryptopay.CodeRatesUnavailable:     http.StatusServiceUnavailable,
	cryptopay.CodeLimitExceeded:        http.StatusUnprocessableEntity, // past a store's transaction limit
	cryptopay.CodeFrozen:               http.StatusServiceUnavailable,  // an incident freeze is in force
}

// retryAfterUnavailable is the Retry-After, in seconds, of a
// database_unavailable answer: about how long a PostgreSQL restart or
// failover takes.
const retryAfterUnavailable = "5"

// typeOf groups codes the way payment API clients expect (Stripe's
// error types).
func typeOf(c cryptopay.Code) string {
	switch c {
	case cryptopay.CodeUnauthenticated, cryptopay.CodeForbidden, cryptopay.CodeKeyExceedsCaller:
		return "authentication_error"
	case cryptopay.CodeRateLimited:
		return "rate_limit_error"
	case cryptopay.CodeIdempotency, cryptopay.CodeIdempotencyInProgress, cryptopay.CodeIdempotencySecretShown:
		return "idempotency_error"
	case cryptopay.CodeInternal, cryptopay.CodeUnavailable, cryptopay.CodeDatabaseUnavailable, cryptopay.CodeRatesUnavailable:
		return "api_error"
	}
	return "invalid_request_error"
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Type      string `json:"type"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	Param     string `json:"param,omitempty"`
	RequestID string `json:"request_id"`
}

// writeError writes err in the one error shape. An error without a
// client-facing *cryptopay.Error is internal: it is logged with the request
// id and the client sees only a generic message and that id.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	code := cryptopay.ErrorCode(err)
	var param string
	if e, ok := errors.AsType[*cryptopay.Error](err); ok {
		param = e.Param
	}
	status := statusOf[code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if code == cryptopay.CodeDatabaseUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", retryAfterUnavailable)
	}
	switch {
	case code == cryptopay.CodeRatesUnavailable:
		// Expected while providers are down; the rate aggregator has
		// already alerted once, so each refused invoice is only a warning.
		s.log.WarnContext(ctx, "request refused: no reliable exchange rate", "request_id", requestID(ctx), "path", r.URL.Path, "err", err)
	case status >= 500:
		s.log.ErrorContext(ctx, "request failed", "request_id", requestID(ctx), "method", r.Method, "path", r.URL.Path, "err", err)
	case code == cryptopay.CodeUnauthenticated || code == cryptopay.CodeForbidden || code == cryptopay.CodeKeyExceedsCaller:
		s.log.InfoContext(ctx, "request refused", "request_id", requestID(ctx), "path", r.URL.Path, "ip", clientIP(r), "reason", err)
	}
	writeJSON(w, status, errorBody{Error: errorDetail{
		Type:      typeOf(code),
		Code:      string(code),
		Message:   cryptopay.ErrorMessage(err),
		Param:     param,
		RequestID: requestID(ctx),
	}})
}
