package cryptopay

import (
	"errors"
	"fmt"
)

// Code is one of a closed set of error codes. Every error that reaches a
// client carries exactly one; the HTTP layer maps each to a status in one
// table.
type Code string

// The closed set of error codes.
const (
	CodeInvalid          Code = "invalid_request"      // a field is missing, malformed or out of range
	CodeNotFound         Code = "not_found"            // no such object (or not visible to this key)
	CodeConflict         Code = "conflict"             // the object already exists or changed underneath
	CodeInvalidState     Code = "invalid_state"        // the object's state does not allow the request (e.g. marking a settled invoice settled)
	CodeIdempotency      Code = "idempotency_mismatch" // same Idempotency-Key, different request
	CodeUnauthenticated  Code = "unauthenticated"      // missing, malformed, unknown, revoked or expired key
	CodeForbidden        Code = "forbidden"            // authenticated, but not allowed (scope, mode, IP)
	CodeRateLimited      Code = "rate_limited"         // too many requests
	CodeTooLarge         Code = "request_too_large"    // the body exceeds the limit
	CodeUnavailable      Code = "unavailable"          // a dependency (node, rate source) is down
	CodeInternal         Code = "internal_error"       // a bug or an unexpected failure; details stay in the log
	CodeMethodNotAllowed Code = "method_not_allowed"   // the route exists, the method does not

	// CodeKeyExceedsCaller: an API key asked to create, rotate or revoke a
	// key with more power than its own (a scope it lacks, a wider IP
	// allowlist, a later expiry).
	CodeKeyExceedsCaller Code = "api_key_exceeds_caller"
	// CodeIdempotencyInProgress: a request with the same Idempotency-Key
	// has made its effect but its response is not recorded yet.
	CodeIdempotencyInProgress Code = "idempotency_in_progress"
	// CodeIdempotencySecretShown: the request with this Idempotency-Key
	// succeeded and its response carried a secret, which is shown once and
	// never replayed.
	CodeIdempotencySecretShown Code = "idempotency_secret_shown_once"
	// CodeDatabaseUnavailable: the gateway's database cannot be reached
	// (restarting, failing over); the request changed nothing and may be
	// retried after the Retry-After delay.
	CodeDatabaseUnavailable Code = "database_unavailable"
	// CodeUnsupportedMediaType: a request body not sent as application/json.
	CodeUnsupportedMediaType Code = "unsupported_media_type"
	// CodeRatesUnavailable: no reliable exchange rate for the invoice's
	// currency (too few fresh, agreeing sources); the message names the
	// currency and each source's state. Asset-priced invoices still work.
	CodeRatesUnavailable Code = "rates_unavailable"
	// CodeLimitExceeded: the invoice would exceed one of the store's
	// transaction limits; Param names the limit.
	CodeLimitExceeded Code = "limit_exceeded"
	// CodeFrozen: the gateway is frozen by an incident response and
	// creates no live invoices until an operator unfreezes it.
	CodeFrozen Code = "frozen"
)

// Error is an error meant for a client: a code, a message that is safe to
// show, and the request parameter it concerns, if any.
type Error struct {
	Code    Code
	Message string
	Param   string
}

func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Param)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a CodeInvalid error naming the offending parameter.
func Invalid(param, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Param: param, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// CodeInternal if there is none (an unexpected error is a bug until proven
// otherwise).
func ErrorCode(err error) Code {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the client-safe message of err: the message of the
// first *Error in its chain, or a generic text for anything else.
func ErrorMessage(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return "An internal error occurred."
}
