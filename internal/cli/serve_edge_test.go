package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"github.com/cryptopay/cryptopay/internal/config"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cryptopay test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// testApp opens a migrated SQLite app with the given extra variables.
func testApp(t *testing.T, vars map[string]string) *app {
	t.Helper()
	m := map[string]string{"CRYPTOPAY_DATA_DIR": t.TempDir(), "CRYPTOPAY_LOG_LEVEL": "error"}
	for k, v := range vars {
		m[k] = v
	}
	a, err := openCreating(context.Background(), Env{Getenv: func(k string) string { return m[k] }, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if _, err := a.db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a
}

// startServe runs a.serve on a fresh 127.0.0.1 port until the test ends.
func startServe(t *testing.T, a *app) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := a.serve(ctx, ln)
		ln.Close() // a serve that failed early must not leave clients hanging
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	a := testApp(t, map[string]string{"CRYPTOPAY_TLS_CERT_FILE": certFile, "CRYPTOPAY_TLS_KEY_FILE": keyFile})
	addr := startServe(t, a)

	for _, tc := range []struct {
		name     string
		min, max uint16
		ok       bool
	}{
		{"TLS 1.0 refused", tls.VersionTLS10, tls.VersionTLS10, false},
		{"TLS 1.1 refused", tls.VersionTLS11, tls.VersionTLS11, false},
		{"TLS 1.2 accepted", tls.VersionTLS12, tls.VersionTLS12, true},
		{"TLS 1.3 accepted", tls.VersionTLS13, tls.VersionTLS13, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
				RootCAs: pool, MinVersion: tc.min, MaxVersion: tc.max}}}
			resp, err := c.Get("https://" + addr + "/healthz")
			if !tc.ok {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("handshake succeeded with %s", tls.VersionName(tc.max))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.TLS == nil || resp.TLS.Version != tc.max || resp.StatusCode != 200 {
				t.Fatalf("status %d, TLS %+v", resp.StatusCode, resp.TLS)
			}
			if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
				t.Errorf("HSTS over TLS: %q", got)
			}
			if !resp.TLS.PeerCertificates[0].Equal(mustLoadCert(t, certFile)) {
				t.Error("the server presented another certificate")
			}
		})
	}
	t.Run("plain HTTP to the TLS port fails", func(t *testing.T) {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/healthz")
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Fatal("the TLS listener served plain HTTP")
			}
		}
	})
}

func mustLoadCert(t *testing.T, file string) *x509.Certificate {
	b, _ := os.ReadFile(file)
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPlainHTTPHasNoHSTS(t *testing.T) {
	addr := startServe(t, testApp(t, nil))
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") != "" || resp.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Errorf("status %d, HSTS %q, X-Frame-Options %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"), resp.Header.Get("X-Frame-Options"))
	}
}

func TestRedirectListener(t *testing.T) {
	e := &edge{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	errc := make(chan error, 2)
	if err := e.listen(srv, ln, "127.0.0.1:0", errc); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Close(); e.shutdown(context.Background()) }()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct{ method, path, host, want string }{
		{"GET", "/v1/invoices?limit=2", "", "https://127.0.0.1:" + port + "/v1/invoices?limit=2"},
		{"POST", "/v1/invoices", "pay.example.com", "https://pay.example.com:" + port + "/v1/invoices"},
	} {
		req, _ := http.NewRequest(tc.method, "http://"+e.redirectAddr.String()+tc.path, strings.NewReader("{}"))
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != tc.want {
			t.Errorf("%s %s: %d → %q, want 308 → %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.want)
		}
	}
	// On 443 the port is left out of the Location.
	rec := httptest.NewRecorder()
	redirectHandler("443").ServeHTTP(rec, httptest.NewRequest("GET", "http://pay.example.com/x", nil))
	if got := rec.Header().Get("Location"); got != "https://pay.example.com/x" {
		t.Errorf("port 443: Location %q", got)
	}
}

func TestLiveModeRefusesPlainHTTP(t *testing.T) {
	a := testApp(t, nil)
	if _, err := a.openEdge(context.Background()); err != nil {
		t.Fatalf("no live store, yet: %v", err)
	}
	if _, err := a.svc.CreateStore(context.Background(), gateway.StoreParams{Name: "Live shop", Livemode: true,
		Wallets: []gateway.WalletParams{{Network: "bitcoin", AccountKey: bip84Zpub}}}); err != nil {
		t.Fatalf("create live store: %v", err)
	}
	if _, err := a.openEdge(context.Background()); !errors.Is(err, errPlainLive) {
		t.Fatalf("live store over plain HTTP: %v", err)
	}
	// Declaring a proxy in front lifts the refusal.
	a.cfg.TrustedProxies = mustCIDRs(t, "10.0.0.0/8")
	e, err := a.openEdge(context.Background())
	if err != nil {
		t.Fatalf("with a trusted proxy: %v", err)
	}
	e.Close()
}

// TestLiveModeRefusesUnsafeProxies: trusting every address (or any
// public range) lets anyone forge X-Forwarded-For and -Proto, so live
// mode refuses it, with built-in TLS too, unless forced.
func TestLiveModeRefusesUnsafeProxies(t *testing.T) {
	ctx := context.Background()
	a := testApp(t, nil)
	a.cfg.TrustedProxies = mustCIDRs(t, "0.0.0.0/0,::/0")
	e, err := a.openEdge(ctx)
	if err != nil {
		t.Fatalf("test mode only: %v", err)
	}
	e.Close()
	if _, err := a.svc.CreateStore(ctx, gateway.StoreParams{Name: "Live shop", Livemode: true,
		Wallets: []gateway.WalletParams{{Network: "bitcoin", AccountKey: bip84Zpub}}}); err != nil {
		t.Fatalf("create live store: %v", err)
	}
	certFile, keyFile, _ := selfSigned(t, t.TempDir())
	for _, tc := range []struct {
		name, proxies string
		tls, force    bool
		refused       bool
	}{
		{"everything", "0.0.0.0/0,::/0", false, false, true},
		{"everything, with built-in TLS", "0.0.0.0/0", true, false, true},
		{"a public range", "10.0.0.0/8,203.0.113.0/24", false, false, true},
		{"all unique local v6", "fc00::/7", false, false, true},
		{"a public range, forced", "203.0.113.0/24", false, true, false},
		{"private ranges", "10.0.0.0/8,fd00:1:2::/48,127.0.0.1", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.cfg.TrustedProxies = mustCIDRs(t, tc.proxies)
			a.cfg.TrustedProxiesForce = tc.force
			a.cfg.TLSCertFile, a.cfg.TLSKeyFile = "", ""
			if tc.tls {
				a.cfg.TLSCertFile, a.cfg.TLSKeyFile = certFile, keyFile
			}
			e, err := a.openEdge(ctx)
			if tc.refused {
				if !errors.Is(err, errUnsafeProxies) || !strings.Contains(err.Error(), "CRYPTOPAY_TRUSTED_PROXIES_FORCE") {
					t.Fatalf("openEdge = %v; want the unsafe-proxy refusal naming the override", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("openEdge = %v", err)
			}
			e.Close()
		})
	}
}

func TestACMEHostPolicy(t *testing.T) {
	a := testApp(t, map[string]string{"CRYPTOPAY_ACME_DOMAINS": "pay.example.com", "CRYPTOPAY_ACME_EMAIL": "ops@example.com"})
	m := acmeManager(a.cfg)
	ctx := context.Background()
	if err := m.HostPolicy(ctx, "pay.example.com"); err != nil {
		t.Errorf("configured domain refused: %v", err)
	}
	for _, h := range []string{"evil.example.com", "127.0.0.1", "example.com"} {
		if err := m.HostPolicy(ctx, h); err == nil {
			t.Errorf("%s accepted", h)
		}
	}
	if dc, ok := m.Cache.(autocert.DirCache); !ok || string(dc) != filepath.Join(a.cfg.DataDir, "acme") || m.Email != "ops@example.com" {
		t.Errorf("cache %v, email %q: want <data dir>/acme", m.Cache, m.Email)
	}
	e, err := a.openEdge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.tls == nil || e.tls.MinVersion != tls.VersionTLS12 || e.tls.GetCertificate == nil {
		t.Errorf("ACME TLS config: %+v", e.tls)
	}
}

// bip84Zpub is the BIP84 test vector's mainnet account public key.
const bip84Zpub = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"

func mustCIDRs(t *testing.T, s string) []netip.Prefix {
	p, err := config.ParseCIDRs(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
