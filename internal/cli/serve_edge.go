package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/acme/autocert"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/alert"
	"github.com/cryptopay/cryptopay/internal/config"
	"github.com/cryptopay/cryptopay/internal/httpapi"
	"github.com/cryptopay/cryptopay/internal/ratelimit"
)

// edge is everything between the network and the API handler: TLS, the
// HTTP→HTTPS redirect listener, rate limiters and the alerter.
type edge struct {
	tls      *tls.Config // nil serves plain HTTP
	acme     *autocert.Manager
	limits   *httpapi.RateLimit
	alerter  *alert.Alerter
	redis    *redis.Client
	redirect *http.Server
	// redirectAddr is where the redirect listener listens, once started.
	redirectAddr net.Addr
}

// errPlainLive is returned when live stores would be served over plain
// HTTP with nothing in front to terminate TLS.
var errPlainLive = errors.New("live mode: refusing to serve plain HTTP. Set CRYPTOPAY_TLS_CERT_FILE and CRYPTOPAY_TLS_KEY_FILE, " +
	"or CRYPTOPAY_ACME_DOMAINS, or, when a reverse proxy terminates TLS in front, declare it in CRYPTOPAY_TRUSTED_PROXIES")

// errUnsafeProxies is returned when live stores would trust a public or
// over-broad proxy range: anyone in it could forge their address (and so
// pass IP allowlists) and claim HTTPS over plain HTTP.
var errUnsafeProxies = errors.New("live mode: refusing to trust CRYPTOPAY_TRUSTED_PROXIES")

// openEdge builds the edge from the configuration. When the database holds
// a live store it refuses plain HTTP with no trusted proxy declared, and
// trusted proxy ranges that are public or over-broad unless
// CRYPTOPAY_TRUSTED_PROXIES_FORCE is set.
func (a *app) openEdge(ctx context.Context) (*edge, error) {
	cfg := a.cfg
	e := &edge{alerter: alert.New(alert.Config{WebhookURL: cfg.AlertWebhookURL, Logger: a.log, Sinks: a.alertSinks()})}
	unsafe := cfg.UnsafeTrustedProxies()
	if (!cfg.ServesTLS() && len(cfg.TrustedProxies) == 0) || (len(unsafe) > 0 && !cfg.TrustedProxiesForce) {
		live, err := a.hasLiveStore(ctx)
		if err != nil {
			return nil, errors.Join(err, e.Close())
		}
		switch {
		case live && len(cfg.TrustedProxies) == 0 && !cfg.ServesTLS():
			return nil, errors.Join(errPlainLive, e.Close())
		case live && len(unsafe) > 0 && !cfg.TrustedProxiesForce:
			return nil, errors.Join(fmt.Errorf("%w: %s. Name only the proxies' own private addresses, "+
				"or set CRYPTOPAY_TRUSTED_PROXIES_FORCE=true for public ranges you have checked", errUnsafeProxies, strings.Join(unsafe, "; ")), e.Close())
		}
	}
	if len(unsafe) > 0 && cfg.TrustedProxiesForce {
		a.log.Warn("trusting public or over-broad proxy ranges (CRYPTOPAY_TRUSTED_PROXIES_FORCE)", "ranges", strings.Join(unsafe, "; "))
	}
	switch {
	case len(cfg.ACMEDomains) > 0:
		e.acme = acmeManager(cfg)
		e.tls = hardenTLS(e.acme.TLSConfig())
	case cfg.TLSCertFile != "":
		certs, err := newCertReloader(cfg.TLSCertFile, cfg.TLSKeyFile, a.log, nil) // reloads renewals; serve_certreload.go
		if err != nil {
			return nil, errors.Join(err, e.Close())
		}
		e.tls = hardenTLS(&tls.Config{GetCertificate: certs.GetCertificate})
	}
	e.limits = a.rateLimits(ctx, e)
	return e, nil
}

func (a *app) hasLiveStore(ctx context.Context) (bool, error) {
	stores, err := a.db.ListStores(ctx)
	if err != nil {
		return false, fmt.Errorf("checking for live stores: %w", err)
	}
	return slices.ContainsFunc(stores, func(s cryptopay.Store) bool { return s.Livemode }), nil
}

// acmeManager obtains certificates for exactly the configured domains and
// caches them (and the account key) in the data directory.
func acmeManager(cfg *config.Config) *autocert.Manager {
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		HostPolicy: autocert.HostWhitelist(cfg.ACMEDomains...),
		Cache:      autocert.DirCache(filepath.Join(cfg.DataDir, "acme")),
		Email:      cfg.ACMEEmail,
	}
}

// hardenTLS sets TLS 1.2 as the floor and, for TLS 1.2, only AEAD suites
// with forward secrecy (TLS 1.3 suites are all modern and not
// configurable).
func hardenTLS(c *tls.Config) *tls.Config {
	c.MinVersion = tls.VersionTLS12
	c.CipherSuites = []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
	return c
}

// rateLimits builds the limiter: in-process, or shared through Redis with
// an in-process fallback. A Redis outage is alerted (at most once a
// minute) and limits become per instance until it returns: neither open
// to brute force nor closed to every shop.
func (a *app) rateLimits(ctx context.Context, e *edge) *httpapi.RateLimit {
	cfg := a.cfg
	rule := func(r config.Rate) ratelimit.Rule { return ratelimit.Rule{Burst: r.Burst, Interval: r.Interval()} }
	rl := &httpapi.RateLimit{
		Limiter:  ratelimit.NewMemory(nil),
		PerKey:   rule(cfg.RateLimitKey),
		PerIP:    rule(cfg.RateLimitIP),
		AuthFail: rule(cfg.RateLimitAuthFail),
	}
	if cfg.RedisURL == "" {
		return rl
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil { // checked by config; a URL that parses there but not here
		a.log.Error("CRYPTOPAY_REDIS_URL unusable; rate limits are per instance", "err", err)
		return rl
	}
	e.redis = redis.NewClient(opts)
	var lastAlert atomic.Int64
	rl.Limiter = &ratelimit.Fallback{
		Primary:   &ratelimit.Redis{Client: e.redis},
		Secondary: rl.Limiter,
		OnError: func(err error) {
			now := time.Now().UnixNano()
			if last := lastAlert.Load(); now-last < int64(time.Minute) || !lastAlert.CompareAndSwap(last, now) {
				return
			}
			e.alerter.Alert(ctx, alert.Alert{Severity: alert.Warning, Title: "Shared rate limiter unreachable",
				Text:   "Redis failed; rate limits are per instance until it answers again.",
				Fields: map[string]string{"error": err.Error()}})
		},
	}
	if err := e.redis.Ping(ctx).Err(); err != nil {
		rl.Limiter.(*ratelimit.Fallback).OnError(err)
	}
	return rl
}

// listen serves srv on ln (over TLS when configured) and starts the
// redirect listener; errors from either arrive on errc.
func (e *edge) listen(srv *http.Server, ln net.Listener, redirectAddr string, errc chan<- error) error {
	if e.tls != nil {
		srv.TLSConfig = e.tls
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	if redirectAddr == "" {
		return nil
	}
	rln, err := net.Listen("tcp", redirectAddr)
	if err != nil {
		return fmt.Errorf("CRYPTOPAY_HTTP_REDIRECT_LISTEN: %w", err)
	}
	e.redirectAddr = rln.Addr()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	var h http.Handler = redirectHandler(port)
	if e.acme != nil {
		h = e.acme.HTTPHandler(h) // answers http-01 challenges, redirects the rest
	}
	e.redirect = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second,
		WriteTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 8 << 10}
	go func() { errc <- e.redirect.Serve(rln) }()
	return nil
}

// redirectHandler answers every plain-HTTP request with a 308 to the same
// path over HTTPS on httpsPort (omitted when 443). 308 keeps the method
// and body, so a POST is not silently turned into a GET.
func redirectHandler(httpsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" || strings.ContainsAny(host, "/\\@ ") {
			http.Error(w, "bad host", http.StatusBadRequest)
			return
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		if httpsPort != "" && httpsPort != "443" {
			host += ":" + httpsPort
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "SAMEORIGIN")
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

func (e *edge) scheme() string {
	if e.tls != nil {
		return "https://"
	}
	return "http://"
}

// shutdown stops the redirect listener within ctx.
func (e *edge) shutdown(ctx context.Context) error {
	if e.redirect == nil {
		return nil
	}
	return e.redirect.Shutdown(ctx)
}

// Close releases the Redis client and the alerter.
func (e *edge) Close() error {
	var errs []error
	if e.redis != nil {
		errs = append(errs, e.redis.Close())
	}
	errs = append(errs, e.alerter.Close())
	return errors.Join(errs...)
}
