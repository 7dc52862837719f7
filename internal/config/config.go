// Package config reads the gateway's configuration from CRYPTOPAY_*
// environment variables, optionally backed by a file of the same KEY=VALUE
// lines (CRYPTOPAY_CONFIG_FILE). The environment wins over the file.
// Secrets come only from here, never from command-line flags.
package config

import (
	"bufio"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay/internal/monitor"
)

// Config is the gateway's configuration.
type Config struct {
	Listen      string
	DataDir     string
	DatabaseURL string
	Rates       string
	LogLevel    slog.Level
	LogFormat   string // "text" or "json"

	ShutdownTimeout time.Duration

	Bitcoin Bitcoin
	// EVM is the network the one-network CRYPTOPAY_EVM_* shorthand
	// configures; EVMMore those CRYPTOPAY_EVM_NETWORKS lists. EVMNetworks
	// returns all of them.
	EVM     EVM
	EVMMore []EVM

	// HTTPS and the network edge.
	TLSCertFile, TLSKeyFile string
	ACMEDomains             []string
	ACMEEmail               string
	HTTPRedirectListen      string
	TrustedProxies          []netip.Prefix
	TrustedProxiesForce     bool // accept public or over-broad proxy ranges in live mode (proxies.go)
	RateLimitKey            Rate
	RateLimitIP             Rate
	RateLimitAuthFail       Rate
	RedisURL                string
	MaxBodyBytes            int64
	PublicURL               string // base of checkout links; "" derives it from each request
	Dashboard               Dashboard
	AlertWebhookURL         string
	WebhookAllowLoopback    bool // test-mode webhook endpoints may be on loopback

	Security // encryption at rest and backups (security.go)

	Monitor monitor.Rules // payment monitoring (monitor.go)

	LiveRates   LiveRates  // live exchange rates when Rates is empty (rates.go)
	Operate                // admin listener and metrics (operate.go)
	PprofListen string     // admin listener of net/http/pprof; "" for none (pprof.go)
	Compliance  Compliance // limits, erasure, incidents (compliance.go)
}

// Var documents one environment variable; the README's table is kept in
// step with this list by a test.
type Var struct {
	Name, Default, Help string
}

// Vars lists every variable the gateway reads.
var Vars = append(append(append(append(coreVars, bitcoinVars...), evmVars...), evmSweepVars...), pprofVars...)

var coreVars = []Var{
	{"CRYPTOPAY_CONFIG_FILE", "", "Optional file of KEY=VALUE lines setting any of these variables; the environment wins."},
	{"CRYPTOPAY_LISTEN", "127.0.0.1:8080", "Address the HTTP API listens on."},
	{"CRYPTOPAY_DATA_DIR", "./cryptopay-data", "Directory for the embedded SQLite database and other local state."},
	{"CRYPTOPAY_DATABASE_URL", "<data dir>/cryptopay.db", "A SQLite file path, or a postgres:// URL for PostgreSQL."},
	{"CRYPTOPAY_RATES", "", "Static exchange rates for fiat invoices, e.g. BTC_USD=65000.00,BTC_EUR=60000.00."},
	{"CRYPTOPAY_LOG_LEVEL", "info", "debug, info, warn or error."},
	{"CRYPTOPAY_LOG_FORMAT", "text", "text or json."},
	{"CRYPTOPAY_SHUTDOWN_TIMEOUT", "15s", "How long serve waits for requests in flight when stopping."},
	{"CRYPTOPAY_TLS_CERT_FILE", "", "PEM certificate chain for built-in TLS (with CRYPTOPAY_TLS_KEY_FILE)."},
	{"CRYPTOPAY_TLS_KEY_FILE", "", "PEM private key for CRYPTOPAY_TLS_CERT_FILE."},
	{"CRYPTOPAY_ACME_DOMAINS", "", "Comma-separated domains to obtain certificates for automatically over ACME (Let's Encrypt); cached in <data dir>/acme."},
	{"CRYPTOPAY_ACME_EMAIL", "", "Contact address given to the ACME certificate authority."},
	{"CRYPTOPAY_HTTP_REDIRECT_LISTEN", "", "Address of a plain-HTTP listener that redirects to HTTPS (308) and answers ACME http-01 challenges, e.g. :80."},
	{"CRYPTOPAY_TRUSTED_PROXIES", "", "Comma-separated CIDRs of reverse proxies that terminate TLS in front; only their X-Forwarded-For/-Proto are honoured. Live mode accepts only private or loopback ranges (IPv4 at most a /8 inside 10/8, 172.16/12, 192.168/16, 100.64/10 or 127/8; IPv6 ::1 or a unique local /48 or narrower)."},
	{"CRYPTOPAY_TRUSTED_PROXIES_FORCE", "false", "true accepts public or over-broad CRYPTOPAY_TRUSTED_PROXIES ranges in live mode (e.g. a CDN's published ranges); doctor still warns."},
	{"CRYPTOPAY_RATE_LIMIT_KEY", "25/s burst 50", "Requests per API key, e.g. 25/s burst 50; off disables."},
	{"CRYPTOPAY_RATE_LIMIT_IP", "5/s burst 20", "Requests per client address without an API key; off disables."},
	{"CRYPTOPAY_RATE_LIMIT_AUTH_FAIL", "10/m burst 10", "Failed authentications per client address; once spent, requests with credentials get 429."},
	{"CRYPTOPAY_REDIS_URL", "", "redis:// URL shared by gateway instances for rate limits; without it limits are per instance."},
	{"CRYPTOPAY_MAX_BODY_BYTES", "65536", "Largest request body accepted, in bytes."},
	{"CRYPTOPAY_PUBLIC_URL", "", "Public base URL customers reach the gateway at, for invoices' checkout_url (e.g. https://pay.example.com); unset, it is derived from each API request."},
	{"CRYPTOPAY_WEBHOOK_ALLOW_LOOPBACK", "false", "true lets test-mode webhook endpoints be on loopback (127.0.0.1, ::1, localhost), for development; `dev` sets it. Never on a production gateway: a test key could make it call local services. Live endpoints never reach loopback."},
	{"CRYPTOPAY_ALERT_WEBHOOK_URL", "", "URL that receives alerts as a JSON POST ({\"text\": ...}, Slack-compatible); alerts are always logged at ERROR."},
}

// Load reads the configuration from getenv (os.Getenv in production).
func Load(getenv func(string) string) (*Config, error) {
	env, err := withFile(getenv)
	if err != nil {
		return nil, err
	}
	c := &Config{
		Listen:    or(env("CRYPTOPAY_LISTEN"), "127.0.0.1:8080"),
		DataDir:   or(env("CRYPTOPAY_DATA_DIR"), "./cryptopay-data"),
		Rates:     env("CRYPTOPAY_RATES"),
		LogFormat: or(env("CRYPTOPAY_LOG_FORMAT"), "text"),
	}
	c.DatabaseURL = or(env("CRYPTOPAY_DATABASE_URL"), filepath.Join(c.DataDir, "cryptopay.db"))
	if err := c.LogLevel.UnmarshalText([]byte(or(env("CRYPTOPAY_LOG_LEVEL"), "info"))); err != nil {
		return nil, fmt.Errorf("CRYPTOPAY_LOG_LEVEL: %w", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return nil, fmt.Errorf("CRYPTOPAY_LOG_FORMAT: want text or json, got %q", c.LogFormat)
	}
	if c.ShutdownTimeout, err = time.ParseDuration(or(env("CRYPTOPAY_SHUTDOWN_TIMEOUT"), "15s")); err != nil {
		return nil, fmt.Errorf("CRYPTOPAY_SHUTDOWN_TIMEOUT: %w", err)
	}
	if c.PprofListen, err = loadPprof(env); err != nil {
		return nil, err
	}
	if c.Bitcoin, err = loadBitcoin(env); err != nil {
		return nil, err
	}
	if c.EVM, err = loadEVM(env); err != nil {
		return nil, err
	}
	shorthand := ""
	if c.EVM.RPCURL != "" {
		shorthand = c.EVM.Network
	}
	if c.EVMMore, err = loadEVMNetworks(env, shorthand); err != nil {
		return nil, err
	}
	if err := c.loadEdge(env); err != nil {
		return nil, err
	}
	if err := c.loadSecurity(env); err != nil {
		return nil, err
	}
	if c.Monitor, err = loadMonitor(env); err != nil {
		return nil, err
	}
	if c.LiveRates, err = loadLiveRates(env); err != nil {
		return nil, err
	}
	if c.Dashboard, err = loadDashboard(env); err != nil {
		return nil, err
	}
	c.Operate = loadOperate(env)
	if c.Compliance, err = loadCompliance(env, c); err != nil {
		return nil, err
	}
	return c, nil
}

// IsPostgres reports whether the database URL names a PostgreSQL server.
func (c *Config) IsPostgres() bool {
	return strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://")
}

// Logger returns the configured logger writing to w.
func (c *Config) Logger(w *os.File) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// withFile layers CRYPTOPAY_CONFIG_FILE under getenv.
func withFile(getenv func(string) string) (func(string) string, error) {
	path := getenv("CRYPTOPAY_CONFIG_FILE")
	if path == "" {
		return getenv, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("CRYPTOPAY_CONFIG_FILE: %w", err)
	}
	defer f.Close()
	file := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || !strings.HasPrefix(k, "CRYPTOPAY_") {
			return nil, fmt.Errorf("%s:%d: want CRYPTOPAY_NAME=value", path, n)
		}
		file[k] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("CRYPTOPAY_CONFIG_FILE: %w", err)
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return file[k]
	}, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
