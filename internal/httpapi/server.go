// Package httpapi is the merchant REST API over HTTP: routing, strict JSON
// decoding, authentication, idempotency, the one error shape, and the
// representations of domain objects on the wire.
//
// Handlers are thin: they decode, call the gateway service, and encode.
// Business rules live in internal/gateway; this package holds none.
package httpapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/dashboard"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

// Config carries the server's dependencies and limits.
type Config struct {
	Service *gateway.Service
	Logger  *slog.Logger
	// MaxBodyBytes bounds request bodies (default 64 KiB).
	MaxBodyBytes int64
	// Ready reports extra readiness conditions (chain watchers); nil means
	// only the database is checked.
	Ready func(ctx context.Context) error
	// Webhooks serves the webhook endpoint and delivery routes.
	Webhooks *webhook.Service
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Forwarded-Proto are believed; nil believes nobody.
	TrustedProxies []netip.Prefix
	// RateLimit enables rate limiting; nil serves without limits.
	RateLimit *RateLimit
	// PublicURL is the base of invoices' checkout_url (for example
	// https://pay.example.com); empty derives it from each request's host
	// and scheme (as seen through trusted proxies).
	PublicURL string
	// Rates are shown at GET /v1/rates and in /readyz; nil shows none.
	Rates RateStatus
	// Dashboard serves the merchant dashboard under /dashboard/; nil
	// serves none. Its view of client addresses, HTTPS and request ids is
	// this server's.
	Dashboard *dashboard.Config
}

// Server is the HTTP API. Its Handler serves every route.
type Server struct {
	svc      *gateway.Service
	log      *slog.Logger
	maxBody  int64
	ready    func(ctx context.Context) error
	mux      *http.ServeMux
	webhooks *webhook.Service
	proxies  []netip.Prefix
	limits   *RateLimit
	public   string
	rates    RateStatus
	dash     *dashboard.Config
}

// New returns a Server with every route registered.
func New(cfg Config) *Server {
	s := &Server{
		svc:      cfg.Service,
		log:      cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		maxBody:  cmp.Or(cfg.MaxBodyBytes, 64<<10),
		ready:    cfg.Ready,
		rates:    cfg.Rates,
		mux:      http.NewServeMux(),
		webhooks: cfg.Webhooks,
		proxies:  cfg.TrustedProxies,
		limits:   cfg.RateLimit,
		public:   strings.TrimRight(cfg.PublicURL, "/"),
		dash:     cfg.Dashboard,
	}
	s.routes()
	return s
}

// Handler returns the root handler: request ids, panic recovery, client
// address and scheme (trusted proxies), security headers, rate limits, then
// the router.
func (s *Server) Handler() http.Handler {
	return s.withRequestID(s.withRecover(s.withProxy(securityHeaders(s.withRateLimit(s.mux)))))
}

// handlerFunc is a handler that returns its error; one adapter writes it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts a handlerFunc, writing any error in the one error shape.
func (s *Server) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// authed wraps h with API key authentication and a scope check.
func (s *Server) authed(scope cryptopay.Scope, h func(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error) http.HandlerFunc {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		key, err := s.authenticate(w, r)
		if err != nil {
			return s.authFailed(w, r, err)
		}
		r = r.WithContext(gateway.WithActor(r.Context(), actor(r, key))) // for the audit log
		if err := s.limitKey(w, r, key); err != nil {
			return err
		}
		if !key.Has(scope) {
			return &cryptopay.Error{Code: cryptopay.CodeForbidden,
				Message: fmt.Sprintf("This API key lacks the scope %s required for this request.", scope)}
		}
		s.svc.NoteScopeUse(r.Context(), key, scope) // for doctor's least-privilege check; throttled
		return h(w, r, key)
	})
}

// reqKey keys the request's facts in its context.
type reqKey struct{}

// reqFacts is what the middleware learns about a request, once: its id
// (withRequestID) and the client side (withProxy). One value carries them
// so the chain makes one context and one request copy for both, not one
// each; the text of the client address is kept for the audit actor,
// which would otherwise format it on every use.
type reqFacts struct {
	id       string
	edge     edge // valid when resolved
	resolved bool
	ipText   string // edge.ip.String(), or "" for an invalid address
}

func factsOf(ctx context.Context) *reqFacts {
	f, _ := ctx.Value(reqKey{}).(*reqFacts)
	return f
}

func requestID(ctx context.Context) string {
	if f := factsOf(ctx); f != nil {
		return f.id
	}
	return ""
}

func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := &reqFacts{id: cryptopay.NewID(cryptopay.PrefixRequest, time.Now())}
		w.Header()["Request-Id"] = []string{f.id}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), reqKey{}, f)))
	})
}

// withRecover turns a panic into a 500 that carries only the request id;
// the stack goes to the log.
func (s *Server) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "request_id", requestID(r.Context()),
					"method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				s.writeError(w, r, errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// The security guide's headers, as net/http would store them after
// Header.Set: canonical names, one value each. The value slices are
// shared by every response, which is safe because nothing changes a
// header value in place (Set and Del replace the slice, and Add appends
// to a slice whose capacity is full, so it copies); setting them directly
// spares the canonicalisation and the slice Set makes for each.
var (
	hdrFrameOptions   = []string{"SAMEORIGIN"}
	hdrContentOptions = []string{"nosniff"}
	hdrXSSProtection  = []string{"1; mode=block"}
	hdrCSP            = []string{"default-src 'self'"}
	hdrReferrer       = []string{"no-referrer"}
	hdrNoStore        = []string{"no-store"}
	hdrHSTS           = []string{"max-age=31536000; includeSubDomains"}
	hdrJSON           = []string{"application/json"}
)

// securityHeaders sets the security guide's headers on every response.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Frame-Options"] = hdrFrameOptions
		h["X-Content-Type-Options"] = hdrContentOptions
		h["X-Xss-Protection"] = hdrXSSProtection // X-XSS-Protection, canonicalised as Set does
		h["Content-Security-Policy"] = hdrCSP
		h["Referrer-Policy"] = hdrReferrer
		h["Cache-Control"] = hdrNoStore // handlers serving cacheable documents override it
		if isHTTPS(r) {
			h["Strict-Transport-Security"] = hdrHSTS
		}
		next.ServeHTTP(w, r)
	})
}

// clientIP returns the client's address: the peer, or the address a
// trusted proxy forwarded for (see withProxy).
func clientIP(r *http.Request) netip.Addr {
	if f := factsOf(r.Context()); f != nil && f.resolved {
		return f.edge.ip
	}
	return peerIP(r)
}
