package dashboard

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// The session cookie. Over HTTPS it carries the __Host- prefix, which
// browsers accept only with Secure, Path=/ and no Domain, so no other
// host or path can plant or read it; plain HTTP is allowed only for a
// client on the gateway's own machine (the sandbox).
const (
	cookieSecure = "__Host-cryptopay_dashboard"
	cookiePlain  = "cryptopay_dashboard"
	maxFormBytes = 16 << 10
)

func (h *Handler) cookieName(r *http.Request) string {
	if h.isHTTPS(r) {
		return cookieSecure
	}
	return cookiePlain
}

func (h *Handler) setSession(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: h.cookieName(r), Value: token, Path: "/", Expires: expires,
		Secure: h.isHTTPS(r), HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func (h *Handler) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: h.cookieName(r), Value: "", Path: "/", MaxAge: -1,
		Secure: h.isHTTPS(r), HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func (h *Handler) token(r *http.Request) string {
	c, err := r.Cookie(h.cookieName(r))
	if err != nil {
		return ""
	}
	return c.Value
}

// errPlainHTTP refuses a sign-in over plain HTTP from another machine: the
// password and the session cookie would cross the network in the clear.
var errPlainHTTP = cryptopay.Errorf(cryptopay.CodeForbidden, "The dashboard needs HTTPS (configure TLS or a TLS proxy); plain HTTP is allowed only from this machine.")

// public wraps every dashboard handler: stricter framing rules than the
// API's, the actor for the audit log, plain HTTP only on loopback, and for
// a POST a same-origin check (the first line against cross-site forms;
// SameSite=Strict cookies and CSRF tokens are the others).
func (h *Handler) public(fn func(w http.ResponseWriter, r *http.Request, p *page) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Frame-Options", "DENY")
		// Every page is private to a signed-in user and some show a secret
		// once (a new API key, a webhook signing secret): no cache keeps
		// one, and Back or a reload fetches afresh.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		ip := h.clientIP(r)
		ctx := gateway.WithActor(r.Context(), gateway.Actor{IP: ip.String(), RequestID: h.reqID(r.Context())})
		r = r.WithContext(ctx)
		p := &page{Explore: h.explorer}
		if !h.isHTTPS(r) && !ip.IsLoopback() {
			h.fail(w, r, p, errPlainHTTP)
			return
		}
		if r.Method == http.MethodPost && !sameOrigin(r) {
			h.fail(w, r, p, cryptopay.Errorf(cryptopay.CodeForbidden, "This form was not sent from the dashboard."))
			return
		}
		if err := fn(w, r, p); err != nil {
			h.fail(w, r, p, err)
		}
	}
}

// sameOrigin reports whether a POST comes from a page of this host:
// Sec-Fetch-Site when the browser sends it, else Origin, else Referer.
// A request with none of them (not a browser) passes; the CSRF token
// still guards it.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s == "same-origin" || s == "none"
	}
	for _, v := range []string{r.Header.Get("Origin"), r.Header.Get("Referer")} {
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		return err == nil && u.Host == r.Host
	}
	return true
}

// signedIn wraps handlers for a signed-in user: without a session the
// browser goes to the sign-in page; a POST must carry the session's CSRF
// token.
func (h *Handler) signedIn(fn func(w http.ResponseWriter, r *http.Request, p *page) error) http.HandlerFunc {
	return h.public(func(w http.ResponseWriter, r *http.Request, p *page) error {
		tok := h.token(r)
		sess, err := h.svc.Session(r.Context(), tok)
		if errors.Is(err, gateway.ErrNoSession) {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/dashboard/login", http.StatusSeeOther)
				return nil
			}
			return err
		}
		if err != nil {
			return err
		}
		if !sess.SignedIn() {
			http.Redirect(w, r, "/dashboard/login/code", http.StatusSeeOther)
			return nil
		}
		p.User, p.CSRF = sess, gateway.SessionCSRF(tok)
		if r.Method == http.MethodPost {
			if err := readForm(w, r); err != nil {
				return err
			}
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(p.CSRF)) != 1 {
				return cryptopay.Errorf(cryptopay.CodeForbidden, "The form has expired or was not sent from the dashboard; reload the page and try again.")
			}
		}
		a := gateway.ActorFrom(r.Context())
		a.User = sess.User.ID
		r = r.WithContext(gateway.WithActor(r.Context(), a))
		if p.Stores, err = h.svc.VisibleStores(r.Context(), sess); err != nil {
			return err
		}
		return fn(w, r, p)
	})
}

// store wraps handlers of one store's pages: the user must have access to
// the store in the path and its role must hold scope.
func (h *Handler) store(scope cryptopay.Scope, fn func(w http.ResponseWriter, r *http.Request, p *page) error) http.HandlerFunc {
	return h.signedIn(func(w http.ResponseWriter, r *http.Request, p *page) error {
		acc, err := h.svc.Access(r.Context(), p.User, r.PathValue("store"))
		if err != nil {
			return err
		}
		p.Access = acc
		if !acc.Caller.Has(scope) {
			return cryptopay.Errorf(cryptopay.CodeForbidden, "Your role in this store (%s) does not allow this.", acc.Role)
		}
		return fn(w, r, p)
	})
}

// readForm reads a POST body, bounded: an urlencoded form within
// maxFormBytes, or on the logo upload route only a multipart one within
// maxLogoForm, its parts kept in memory.
func readForm(w http.ResponseWriter, r *http.Request) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		if !strings.HasSuffix(r.URL.Path, "/settings/logo") {
			return cryptopay.Invalid("form", "The form must be sent as application/x-www-form-urlencoded.")
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxLogoForm)
		if err := r.ParseMultipartForm(maxLogoForm); err != nil {
			return cryptopay.Invalid("form", "The upload could not be read (at most 256 KiB).")
		}
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return cryptopay.Invalid("form", "The form could not be read.")
	}
	return nil
}

// form reads an urlencoded POST body strictly: exactly the named fields
// may appear (csrf always may), none twice, the body bounded.
func form(w http.ResponseWriter, r *http.Request, fields ...string) (url.Values, error) {
	if r.PostForm == nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return nil, cryptopay.Invalid("form", "The form could not be read.")
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return nil, cryptopay.Invalid("form", "The form must be sent as application/x-www-form-urlencoded.")
	}
	for k, vs := range r.PostForm {
		if k != "csrf" && !slices.Contains(fields, k) {
			return nil, cryptopay.Invalid(k, "Unknown field %q.", k)
		}
		if len(vs) > 1 && !strings.HasSuffix(k, "[]") {
			return nil, cryptopay.Invalid(k, "Field %q is given twice.", k)
		}
	}
	return r.PostForm, nil
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Title = "Sign in"
	h.render(w, http.StatusOK, "login", p)
	return nil
}

// login checks email and password. Attempts are limited per client
// address before any work; the account lock is the service's.
func (h *Handler) login(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := form(w, r, "email", "password")
	if err != nil {
		return err
	}
	if err := h.limitSignIn(r); err != nil {
		return err
	}
	sess, err := h.svc.SignIn(r.Context(), f.Get("email"), f.Get("password"))
	if errors.Is(err, gateway.ErrSignIn) {
		p.Title, p.Error = "Sign in", gateway.ErrSignIn.Message
		h.render(w, http.StatusUnauthorized, "login", p)
		return nil
	}
	if err != nil {
		return err
	}
	h.setSession(w, r, sess.Token, sess.ExpiresAt)
	next := "/dashboard/"
	if !sess.SignedIn() {
		next = "/dashboard/login/code"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (h *Handler) limitSignIn(r *http.Request) error {
	ip := h.clientIP(r)
	key := ip.String()
	if ip.Is6() && !ip.Is4In6() { // one client owns a /64
		key = netip.PrefixFrom(ip, 64).Masked().String()
	}
	d, err := h.limiter.Take(r.Context(), "dashboard_sign_in:"+key, h.signIn, 1)
	if err != nil {
		return err
	}
	if !d.Allowed {
		return cryptopay.Errorf(cryptopay.CodeRateLimited, "Too many sign-in attempts from your address; try again in %d seconds.", int(d.RetryAfter.Seconds())+1)
	}
	return nil
}

func (h *Handler) codePage(w http.ResponseWriter, r *http.Request, p *page) error {
	sess, err := h.svc.Session(r.Context(), h.token(r))
	if err != nil || sess.SignedIn() {
		http.Redirect(w, r, "/dashboard/", http.StatusSeeOther)
		return nil
	}
	p.Title = "Authentication code"
	h.render(w, http.StatusOK, "code", p)
	return nil
}

func (h *Handler) code(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := form(w, r, "code")
	if err != nil {
		return err
	}
	if err := h.limitSignIn(r); err != nil {
		return err
	}
	sess, err := h.svc.VerifySecondFactor(r.Context(), h.token(r), strings.TrimSpace(f.Get("code")))
	switch {
	case errors.Is(err, gateway.ErrNoSession):
		http.Redirect(w, r, "/dashboard/login", http.StatusSeeOther)
		return nil
	case errors.Is(err, gateway.ErrSignIn):
		p.Title, p.Error = "Authentication code", gateway.ErrSignIn.Message
		h.render(w, http.StatusUnauthorized, "code", p)
		return nil
	case err != nil:
		return err
	}
	h.setSession(w, r, sess.Token, sess.ExpiresAt)
	http.Redirect(w, r, "/dashboard/", http.StatusSeeOther)
	return nil
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, p *page) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return cryptopay.Invalid("form", "The form could not be read.")
	}
	tok := h.token(r)
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(gateway.SessionCSRF(tok))) != 1 {
		return cryptopay.Errorf(cryptopay.CodeForbidden, "The form has expired; reload the page and try again.")
	}
	if err := h.svc.SignOut(r.Context(), tok); err != nil {
		return err
	}
	h.clearSession(w, r)
	http.Redirect(w, r, "/dashboard/login", http.StatusSeeOther)
	return nil
}

// home lists the user's stores; with only one, it opens its invoices.
func (h *Handler) home(w http.ResponseWriter, r *http.Request, p *page) error {
	if len(p.Stores) == 1 {
		http.Redirect(w, r, fmt.Sprintf("/dashboard/stores/%s/invoices", p.Stores[0].ID), http.StatusSeeOther)
		return nil
	}
	p.Title = "Stores"
	h.render(w, http.StatusOK, "home", p)
	return nil
}
