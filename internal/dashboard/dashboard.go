// Package dashboard is the merchant's web dashboard: server-rendered HTML
// pages under /dashboard/ for the shop's people to sign in (password and
// TOTP), follow invoices and payments, resolve invoices by hand, inspect
// and redeliver webhooks, manage API keys, read the audit log and export
// CSV for accounting.
//
// It holds no rules of its own: every page calls the gateway and webhook
// services exactly as the API does, with an API-key-shaped caller built
// from the user's role in the store (gateway.Access), so a dashboard user
// can never do more than a key with the role's scopes could. Pages use no
// inline script or style (the gateway's CSP is default-src 'self'); the
// one script, for copy buttons, is optional.
package dashboard

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/ratelimit"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

//go:embed web
var webFS embed.FS

// Config wires the dashboard to the gateway.
type Config struct {
	Service  *gateway.Service
	Webhooks *webhook.Service
	Logger   *slog.Logger
	// Explorer is the block explorer link for a transaction, with {txid}
	// standing for its id (CRYPTOPAY_DASHBOARD_EXPLORER_URL); a store's own
	// explorer setting wins, and empty falls back to the network's default.
	Explorer string
	// Limiter counts sign-in attempts per client address; nil keeps them
	// in process.
	Limiter ratelimit.Limiter
	// SignInRule bounds sign-in attempts per client address (default: 10
	// at once, one more every 30 seconds).
	SignInRule ratelimit.Rule
	// Doctor runs the pre-production checklist for operator users' security
	// page; nil leaves it out.
	Doctor DoctorFunc
	// VerifyAudit verifies the audit log for operator users' security
	// page; nil leaves it out.
	VerifyAudit VerifyAuditFunc
	// ClientIP, IsHTTPS and RequestID read what the HTTP edge learned
	// about a request (through trusted proxies); nil uses the TCP peer,
	// r.TLS and no id.
	ClientIP  func(*http.Request) netip.Addr
	IsHTTPS   func(*http.Request) bool
	RequestID func(context.Context) string
}

// Handler serves the dashboard.
type Handler struct {
	svc         *gateway.Service
	hooks       *webhook.Service
	log         *slog.Logger
	explorer    string
	limiter     ratelimit.Limiter
	signIn      ratelimit.Rule
	clientIP    func(*http.Request) netip.Addr
	isHTTPS     func(*http.Request) bool
	reqID       func(context.Context) string
	doctor      DoctorFunc
	verifyAudit VerifyAuditFunc
	pages       map[string]*template.Template
}

// New returns the dashboard handler.
func New(cfg Config) *Handler {
	h := &Handler{
		svc:         cfg.Service,
		hooks:       cfg.Webhooks,
		log:         cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		explorer:    cfg.Explorer,
		limiter:     cfg.Limiter,
		signIn:      cfg.SignInRule,
		clientIP:    cfg.ClientIP,
		isHTTPS:     cfg.IsHTTPS,
		reqID:       cfg.RequestID,
		doctor:      cfg.Doctor,
		verifyAudit: cfg.VerifyAudit,
	}
	if h.limiter == nil {
		h.limiter = ratelimit.NewMemory(nil)
	}
	if h.signIn.Off() {
		h.signIn = ratelimit.Rule{Burst: 10, Interval: 30 * time.Second}
	}
	if h.clientIP == nil {
		h.clientIP = func(r *http.Request) netip.Addr {
			ap, _ := netip.ParseAddrPort(r.RemoteAddr)
			return ap.Addr()
		}
	}
	if h.isHTTPS == nil {
		h.isHTTPS = func(r *http.Request) bool { return r.TLS != nil }
	}
	if h.reqID == nil {
		h.reqID = func(context.Context) string { return "" }
	}
	h.pages = parsePages()
	return h
}

// Register adds the dashboard's routes to mux, one line each.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /dashboard/static/{file}", h.asset)
	mux.HandleFunc("GET /dashboard/login", h.public(h.loginPage))
	mux.HandleFunc("POST /dashboard/login", h.public(h.login))
	mux.HandleFunc("GET /dashboard/login/code", h.public(h.codePage))
	mux.HandleFunc("POST /dashboard/login/code", h.public(h.code))
	mux.HandleFunc("POST /dashboard/logout", h.public(h.logout))
	mux.HandleFunc("GET /dashboard/{$}", h.signedIn(h.home))

	mux.HandleFunc("GET /dashboard/stores/{store}/invoices", h.store(cryptopay.ScopeInvoicesRead, h.invoices))
	mux.HandleFunc("GET /dashboard/stores/{store}/invoices/{id}", h.store(cryptopay.ScopeInvoicesRead, h.invoice))
	mux.HandleFunc("POST /dashboard/stores/{store}/invoices/{id}/mark", h.store(cryptopay.ScopeInvoicesWrite, h.markInvoice))
	mux.HandleFunc("POST /dashboard/stores/{store}/invoices/{id}/payments/{payment}/release", h.store(cryptopay.ScopeInvoicesWrite, h.releasePayment))
	mux.HandleFunc("GET /dashboard/stores/{store}/export.csv", h.store(cryptopay.ScopeInvoicesRead, h.export))

	mux.HandleFunc("GET /dashboard/stores/{store}/webhooks", h.store(cryptopay.ScopeWebhooksRead, h.endpoints))
	mux.HandleFunc("GET /dashboard/stores/{store}/webhooks/{id}", h.store(cryptopay.ScopeWebhooksRead, h.endpoint))
	mux.HandleFunc("POST /dashboard/stores/{store}/webhooks/{id}/test", h.store(cryptopay.ScopeWebhooksWrite, h.testEndpoint))
	mux.HandleFunc("POST /dashboard/stores/{store}/webhooks/{id}/rotate", h.store(cryptopay.ScopeWebhooksWrite, h.rotateEndpoint))
	mux.HandleFunc("GET /dashboard/stores/{store}/deliveries/{id}", h.store(cryptopay.ScopeWebhooksRead, h.delivery))
	mux.HandleFunc("POST /dashboard/stores/{store}/deliveries/{id}/redeliver", h.store(cryptopay.ScopeWebhooksWrite, h.redeliver))

	mux.HandleFunc("GET /dashboard/stores/{store}/keys", h.store(cryptopay.ScopeKeysRead, h.keys))
	mux.HandleFunc("POST /dashboard/stores/{store}/keys", h.store(cryptopay.ScopeKeysWrite, h.createKey))
	mux.HandleFunc("POST /dashboard/stores/{store}/keys/{id}/rotate", h.store(cryptopay.ScopeKeysWrite, h.rotateKey))
	mux.HandleFunc("POST /dashboard/stores/{store}/keys/{id}/revoke", h.store(cryptopay.ScopeKeysWrite, h.revokeKey))

	mux.HandleFunc("GET /dashboard/stores/{store}/settings", h.store(cryptopay.ScopeInvoicesRead, h.settings))
	mux.HandleFunc("POST /dashboard/stores/{store}/settings/general", h.owner(h.updateGeneral))
	mux.HandleFunc("POST /dashboard/stores/{store}/settings/checkout", h.owner(h.updateCheckout))
	mux.HandleFunc("POST /dashboard/stores/{store}/settings/logo", h.owner(h.updateLogo))
	mux.HandleFunc("POST /dashboard/stores/{store}/settings/limits", h.owner(h.updateLimits))
	mux.HandleFunc("POST /dashboard/stores/{store}/settings/account_key/preview", h.owner(h.previewAccountKey))
	mux.HandleFunc("POST /dashboard/stores/{store}/settings/account_key", h.owner(h.replaceAccountKey))

	mux.HandleFunc("GET /dashboard/stores/{store}/alerts", h.store(cryptopay.ScopeInvoicesWrite, h.alerts))
	mux.HandleFunc("POST /dashboard/stores/{store}/alerts/{id}/resolve", h.store(cryptopay.ScopeInvoicesWrite, h.resolveReview))

	mux.HandleFunc("GET /dashboard/stores/{store}/security", h.store(cryptopay.ScopeAuditRead, h.security))
	mux.HandleFunc("POST /dashboard/stores/{store}/security/unblock", h.operator(h.unblock))
	mux.HandleFunc("POST /dashboard/stores/{store}/security/freeze", h.operator(h.freeze))
	mux.HandleFunc("POST /dashboard/stores/{store}/security/unfreeze", h.operator(h.unfreeze))
}

// page is what every template gets: the signed-in user (if any), the
// store being viewed (if any), the CSRF token for forms, and the page's
// own data.
type page struct {
	Title   string
	User    *gateway.Session
	Access  *gateway.StoreAccess
	Stores  []cryptopay.Store
	CSRF    string
	Flash   string // a one-time message (a secret shown once, an action done)
	Error   string
	Nav     string // the current section, for the menu
	Data    any
	Explore string
}

// Can reports whether the viewed store's role holds scope s (templates
// hide actions the user may not take; the handlers refuse them anyway).
func (p *page) Can(s string) bool {
	return p.Access != nil && p.Access.Caller.Has(cryptopay.Scope(s))
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, p *page) {
	t, ok := h.pages[name]
	if !ok {
		panic("dashboard: no template " + name)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		h.log.Error("render dashboard page", "page", name, "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// fail renders an error page for err with the status its code implies.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, p *page, err error) {
	status := http.StatusInternalServerError
	msg := "Something went wrong; the request id is in the server log."
	var ce *cryptopay.Error
	if errors.As(err, &ce) {
		msg = ce.Message
		switch ce.Code {
		case cryptopay.CodeInvalid, cryptopay.CodeInvalidState, cryptopay.CodeConflict, cryptopay.CodeKeyExceedsCaller:
			status = http.StatusBadRequest
		case cryptopay.CodeNotFound:
			status = http.StatusNotFound
		case cryptopay.CodeForbidden:
			status = http.StatusForbidden
		case cryptopay.CodeUnauthenticated:
			status = http.StatusUnauthorized
		case cryptopay.CodeRateLimited:
			status = http.StatusTooManyRequests
		case cryptopay.CodeDatabaseUnavailable, cryptopay.CodeUnavailable:
			status = http.StatusServiceUnavailable
		}
	}
	if status == http.StatusInternalServerError {
		h.log.ErrorContext(r.Context(), "dashboard request failed", "path", r.URL.Path, "request_id", h.reqID(r.Context()), "err", err)
	}
	if p == nil {
		p = &page{}
	}
	p.Title, p.Error = "Error", msg
	h.render(w, status, "error", p)
}

func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
	ct := ""
	for ext, t := range types {
		if strings.HasSuffix(name, ext) {
			ct = t
		}
	}
	b, err := fs.ReadFile(webFS, "web/"+name)
	if ct == "" || err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}
