// Package webhooksig signs and verifies CryptoPay webhook deliveries. The
// gateway uses it to sign every POST it sends; merchants import it to check
// that a POST really came from their gateway and is fresh.
//
// Two headers travel with every delivery:
//
//	CryptoPay-Signature:   t=<unix seconds>,v1=<hex>[,v1=<hex>...]
//	X-CryptoPay-Signature: <hex>
//
// Each v1 value is the lowercase hex of HMAC-SHA256(secret, t + "." + body),
// one per active endpoint secret: while a secret is being rotated the gateway
// signs with both the old and the new one, so a receiver holding either
// accepts the delivery. The timestamp is covered by the MAC, which lets a
// receiver refuse a captured delivery replayed later (see [Verify]).
//
// X-CryptoPay-Signature is the legacy form, HMAC-SHA256(secret, body) in
// lowercase hex, exactly what the security guide's JavaScript
// verifyWebhookSignature checks. It carries no timestamp and therefore no
// replay protection; new receivers should use [Verify] or [ReadAndVerify].
//
// The HMAC key is the whole secret string as bytes, "whsec_" prefix
// included, as the guide's JavaScript passes the secret string to
// crypto.createHmac.
//
// This package is not a webhook client or server: it does not deliver,
// retry, deduplicate deliveries or filter source addresses. A signature
// inside the tolerance window can be replayed within that window, so a
// receiver should also ignore an event id ([HeaderEventID]) it has already
// processed. Standard library only, so merchants pull in nothing else.
package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names set by the gateway on every webhook delivery.
const (
	// HeaderSignature carries the timestamped signature
	// "t=<unix seconds>,v1=<hex>[,v1=<hex>...]".
	HeaderSignature = "CryptoPay-Signature"
	// HeaderLegacySignature carries the hex HMAC-SHA256 of the raw body
	// alone, as checked by the security guide's JavaScript.
	HeaderLegacySignature = "X-CryptoPay-Signature"
	// HeaderEventID identifies the event; it is the same on every retry, so
	// receivers use it to process an event once.
	HeaderEventID = "CryptoPay-Event-Id"
	// HeaderDeliveryID identifies one delivery attempt (useful in logs).
	HeaderDeliveryID = "CryptoPay-Delivery-Id"
	// HeaderEventType names the event, for example "invoice.settled".
	HeaderEventType = "CryptoPay-Event-Type"
)

// DefaultTolerance is how far the signed timestamp may lie from the
// receiver's clock, in either direction, when Options.Tolerance is not set.
const DefaultTolerance = 5 * time.Minute

// Sentinel errors. Every error from a verify function wraps exactly one of
// them, or ErrBodyTooLarge, or a request body's read error, so callers
// branch with errors.Is. Messages never include signatures, secrets or the body.
var (
	// ErrNoHeader: the signature header is missing or empty.
	ErrNoHeader = errors.New("webhooksig: no signature header")
	// ErrBadFormat: the header (or legacy hex) does not parse: no or
	// duplicate t, t not a decimal number of seconds, no v1, a v1 that is
	// not 64 hex digits, an element without "=".
	ErrBadFormat = errors.New("webhooksig: malformed signature header")
	// ErrTooOld: the signature matched but its timestamp is older than the
	// tolerance, as a replayed delivery would be.
	ErrTooOld = errors.New("webhooksig: signature timestamp too old")
	// ErrTooNew: the signature matched but its timestamp is further in the
	// future than the tolerance; usually one of the two clocks is wrong.
	// Kept apart from ErrTooOld because the fix (set the clock) differs.
	ErrTooNew = errors.New("webhooksig: signature timestamp in the future")
	// ErrNoMatch: no signature in the header was made with this secret
	// over this body (forged, tampered with, or a different secret).
	ErrNoMatch = errors.New("webhooksig: no matching signature")
	// ErrEmptySecret: the secret passed to a verify function is empty. It
	// is refused because an unset secret variable would otherwise make the
	// receiver accept anything signed with the empty key.
	ErrEmptySecret = errors.New("webhooksig: empty secret")
)

// macSize is the length of an HMAC-SHA256 in bytes.
const macSize = sha256.Size

// Options tunes [VerifyWithOptions]. The zero value is the default.
type Options struct {
	// Tolerance is the largest accepted distance between the signed
	// timestamp and Now, in either direction. Zero or negative means
	// DefaultTolerance: there is deliberately no way to switch the check
	// off, since that would turn every captured delivery into a replayable
	// one. An age exactly equal to Tolerance is accepted.
	Tolerance time.Duration
	// Now returns the current time; nil means time.Now. Tests inject it.
	Now func() time.Time
}

// Sign returns the legacy signature for payload: the lowercase hex of
// HMAC-SHA256(secret, payload), the value of [HeaderLegacySignature]. It
// never fails; an empty secret yields a signature no verifier here accepts.
func Sign(payload []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(payload)
	return hex.EncodeToString(m.Sum(nil))
}

// SignHeader returns the value of [HeaderSignature] for payload signed at t
// with each of secrets, in order: "t=<unix seconds>,v1=<hex>,...". t is
// truncated to whole seconds. The gateway passes two secrets during a
// rotation. With no secrets, or a t before 1970, the result is a header that
// every verifier rejects with ErrBadFormat; callers should not do that.
func SignHeader(payload []byte, t time.Time, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.Grow(len("t=") + len(ts) + len(secrets)*(len(",v1=")+2*macSize))
	b.WriteString("t=")
	b.WriteString(ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(timestampedMAC(payload, ts, s)))
	}
	return b.String()
}

// timestampedMAC computes HMAC-SHA256(secret, ts + "." + payload) where ts
// is the timestamp exactly as written in the header.
func timestampedMAC(payload []byte, ts, secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(payload)
	return m.Sum(nil)
}

// Verify checks a [HeaderSignature] value against the raw request body with
// DefaultTolerance and time.Now; see [VerifyWithOptions] for the contract.
func Verify(payload []byte, header string, secret string) error {
	return VerifyWithOptions(payload, header, secret, Options{})
}

// VerifyWithOptions checks that header (the value of [HeaderSignature])
// holds at least one v1 signature made with secret over payload and the
// header's timestamp, and that the timestamp lies within opts.Tolerance of
// opts.Now in either direction. payload must be the raw body as received,
// before any JSON decoding. Unknown schemes (for example v0=) are ignored so
// the gateway can add schemes without breaking receivers.
//
// It returns nil on success, otherwise an error wrapping ErrEmptySecret,
// ErrNoHeader (header is ""), ErrBadFormat, ErrNoMatch, ErrTooOld or
// ErrTooNew. The signature is checked before the timestamp, so ErrTooOld
// and ErrTooNew mean the delivery is authentic but stale (or a clock is
// off), while a forgery is always ErrNoMatch. Comparisons are constant-time.
func VerifyWithOptions(payload []byte, header string, secret string, opts Options) error {
	if secret == "" {
		return ErrEmptySecret
	}
	if header == "" {
		return ErrNoHeader
	}
	h, err := parseHeader(header)
	if err != nil {
		return err
	}
	want := timestampedMAC(payload, h.ts, secret)
	matched := false
	for _, sig := range h.v1 {
		// Compare against every entry rather than stopping at the first
		// match, so timing reveals nothing about which entry matched.
		if hmac.Equal(sig, want) {
			matched = true
		}
	}
	if !matched {
		return fmt.Errorf("%w (%d v1 signatures checked)", ErrNoMatch, len(h.v1))
	}
	tol := opts.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	// time.Unix overflows its internal representation for t near the int64
	// limit, so such a t is judged before any time arithmetic; below the
	// bound, time.Time.Sub saturates rather than overflowing.
	if h.unix > maxPlausibleUnix {
		return fmt.Errorf("%w: t is tens of thousands of years ahead", ErrTooNew)
	}
	age := now().Sub(time.Unix(h.unix, 0))
	switch {
	case age > tol:
		return fmt.Errorf("%w: signed %s ago, tolerance %s", ErrTooOld, age.Truncate(time.Second), tol)
	case age < -tol:
		return fmt.Errorf("%w: signed %s ahead, tolerance %s", ErrTooNew, (-age).Truncate(time.Second), tol)
	}
	return nil
}

// VerifyLegacy checks a [HeaderLegacySignature] value: signatureHex must be
// the hex (either case) of HMAC-SHA256(secret, payload). It returns nil on
// success, otherwise an error wrapping ErrEmptySecret, ErrNoHeader
// (signatureHex is ""), ErrBadFormat (not 64 hex digits) or ErrNoMatch. The
// comparison is constant-time. The legacy form has no timestamp, so a
// captured delivery verifies forever; prefer [Verify].
func VerifyLegacy(payload []byte, signatureHex string, secret string) error {
	if secret == "" {
		return ErrEmptySecret
	}
	if signatureHex == "" {
		return ErrNoHeader
	}
	sig, err := decodeMAC(signatureHex)
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(payload)
	if !hmac.Equal(sig, m.Sum(nil)) {
		return ErrNoMatch
	}
	return nil
}

// parsedHeader is a syntactically valid [HeaderSignature] value.
type parsedHeader struct {
	ts   string // the t value exactly as sent: it is what the MAC covers
	unix int64
	v1   [][]byte
}

// maxPlausibleUnix (about the year 36812) is far beyond any clock yet small
// enough that time.Unix represents it exactly.
const maxPlausibleUnix = 1 << 40

// maxTimestampDigits bounds t: 19 digits hold every positive int64, and a
// longer string cannot be a real unix time.
const maxTimestampDigits = 19

// parseHeader parses "t=<digits>,v1=<hex>[,...]". Elements are separated by
// commas and may carry spaces or tabs around them (a proxy joining repeated
// header lines adds ", "). Keys are case-sensitive. Errors wrap ErrBadFormat
// and never quote the input, which is attacker-controlled.
func parseHeader(header string) (parsedHeader, error) {
	var h parsedHeader
	haveT := false
	for elem := range strings.SplitSeq(header, ",") {
		elem = strings.Trim(elem, " \t")
		key, val, ok := strings.Cut(elem, "=")
		if !ok {
			return h, fmt.Errorf("%w: element without '='", ErrBadFormat)
		}
		switch key {
		case "t":
			if haveT {
				return h, fmt.Errorf("%w: duplicate t", ErrBadFormat)
			}
			haveT = true
			unix, err := parseTimestamp(val)
			if err != nil {
				return h, err
			}
			h.ts, h.unix = val, unix
		case "v1":
			sig, err := decodeMAC(val)
			if err != nil {
				return h, err
			}
			h.v1 = append(h.v1, sig)
		default:
			// Unknown scheme (v0, a future v2, ...): ignored by design.
		}
	}
	if !haveT {
		return h, fmt.Errorf("%w: no t", ErrBadFormat)
	}
	if len(h.v1) == 0 {
		return h, fmt.Errorf("%w: no v1 signature", ErrBadFormat)
	}
	return h, nil
}

// parseTimestamp accepts only plain decimal digits: strconv.ParseInt alone
// would also take a sign, which no gateway ever sends.
func parseTimestamp(s string) (int64, error) {
	if s == "" || len(s) > maxTimestampDigits {
		return 0, fmt.Errorf("%w: t is not a unix time in seconds", ErrBadFormat)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: t is not a unix time in seconds", ErrBadFormat)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: t is not a unix time in seconds", ErrBadFormat)
	}
	return n, nil
}

// decodeMAC decodes 64 hex digits into a 32-byte MAC. The length is checked
// first so a huge value costs nothing; the length is public anyway.
func decodeMAC(s string) ([]byte, error) {
	if len(s) != 2*macSize {
		return nil, fmt.Errorf("%w: signature is not %d hex digits", ErrBadFormat, 2*macSize)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: signature is not hex", ErrBadFormat)
	}
	return b, nil
}
