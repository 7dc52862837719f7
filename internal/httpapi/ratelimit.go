package httpapi

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/ratelimit"
)

// RateLimit configures the three buckets every request may be counted in.
// A rule that is Off disables that bucket.
type RateLimit struct {
	Limiter ratelimit.Limiter
	// PerKey limits each API key's authenticated requests.
	PerKey ratelimit.Rule
	// PerIP limits each client address's requests that carry no
	// credentials, and (counted after the fact) credentials sent to routes
	// that take none. It is meant to be stricter than PerKey.
	PerIP ratelimit.Rule
	// AuthFail limits each client address's failed authentications. Once
	// it is spent, every request with credentials from that address is
	// refused before any key lookup, so a brute force stops quickly.
	AuthFail ratelimit.Rule
}

// rateNoteKey marks, for a request with credentials, whether an
// authenticated route has already counted it.
type rateNoteKey struct{}

type rateNote struct{ counted bool }

// withRateLimit counts requests without credentials against their
// address's PerIP bucket before routing. Requests with credentials are
// counted by authed (PerKey on success, AuthFail on failure); those that
// never reach authed are charged to PerIP afterwards, so no route is free.
func (s *Server) withRateLimit(next http.Handler) http.Handler {
	if s.limits == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := rateBucket(clientIP(r))
		if r.Header.Get("Authorization") == "" {
			if err := s.take(w, r, "ip:"+ip, s.limits.PerIP, 1, true); err != nil {
				s.writeError(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if err := s.take(w, r, "authfail:"+ip, s.limits.AuthFail, 0, false); err != nil {
			s.writeError(w, r, err)
			return
		}
		if s.limits.PerIP.Off() {
			// Nothing to charge afterwards: spare the note, its context
			// and the request copy on every authenticated request.
			next.ServeHTTP(w, r)
			return
		}
		note := &rateNote{}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), rateNoteKey{}, note)))
		if !note.counted {
			_, _ = s.limits.Limiter.Take(context.WithoutCancel(r.Context()), "ip:"+ip, s.limits.PerIP, 1)
		}
	})
}

// limitKey counts an authenticated request against its key's bucket.
func (s *Server) limitKey(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if s.limits == nil {
		return nil
	}
	markCounted(r)
	return s.take(w, r, "key:"+key.ID, s.limits.PerKey, 1, true)
}

// authFailed counts a failed authentication against the address's
// AuthFail bucket and returns the original error: this attempt is told
// why it failed; the ones after the bucket is spent get 429.
func (s *Server) authFailed(w http.ResponseWriter, r *http.Request, err error) error {
	if s.limits == nil {
		return err
	}
	switch cryptopay.ErrorCode(err) {
	case cryptopay.CodeUnauthenticated, cryptopay.CodeForbidden:
	default:
		return err // the database failed, not the client
	}
	markCounted(r)
	_, _ = s.limits.Limiter.Take(r.Context(), "authfail:"+rateBucket(clientIP(r)), s.limits.AuthFail, 1)
	return err
}

// rateBucket names the per-address bucket of a client: its IPv4 address,
// or its IPv6 /64. One IPv6 subscriber is routinely given a whole /64 (and
// picks new addresses in it at will), so bucketing by full address would
// give one client 2^64 buckets.
func rateBucket(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		return netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
	}
	return a.String()
}

// clientBucket is rateBucket of the request's client address.
func clientBucket(r *http.Request) string { return rateBucket(clientIP(r)) }

func markCounted(r *http.Request) {
	if n, ok := r.Context().Value(rateNoteKey{}).(*rateNote); ok {
		n.counted = true
	}
}

// take takes n tokens from bucket. On refusal it sets Retry-After and
// returns a CodeRateLimited error; with headers it also reports the bucket
// in RateLimit-Limit/-Remaining/-Reset (seconds, per the IETF draft). A
// limiter that cannot decide lets the request through: see ratelimit.Fallback
// for how serve keeps limiting when the shared store is down.
func (s *Server) take(w http.ResponseWriter, r *http.Request, bucket string, rule ratelimit.Rule, n int, headers bool) error {
	if rule.Off() {
		return nil
	}
	d, err := s.limits.Limiter.Take(r.Context(), bucket, rule, n)
	if err != nil {
		s.log.WarnContext(r.Context(), "rate limiter failed; request allowed", "request_id", requestID(r.Context()), "err", err)
		return nil
	}
	h := w.Header()
	if headers || !d.Allowed {
		h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
		h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
		h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(d.Reset)))
	}
	if d.Allowed {
		return nil
	}
	h.Set("Retry-After", strconv.Itoa(max(1, ceilSeconds(d.RetryAfter))))
	return cryptopay.Errorf(cryptopay.CodeRateLimited, "Too many requests; retry after %d seconds.", max(1, ceilSeconds(d.RetryAfter)))
}

// seconds rounds up, so a client that waits that long is never early.
func ceilSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}
