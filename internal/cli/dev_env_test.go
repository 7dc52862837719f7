package cli

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cryptopay/cryptopay/internal/config"
)

// TestDevConfig: the sandbox keeps the developer's harmless settings but
// never their database, configuration file, node or production edge.
func TestDevConfig(t *testing.T) {
	user := map[string]string{
		"CRYPTOPAY_LISTEN":          "127.0.0.1:9999",
		"CRYPTOPAY_LOG_LEVEL":       "debug",
		"CRYPTOPAY_DATABASE_URL":    "postgres://prod/db",
		"CRYPTOPAY_CONFIG_FILE":     "/does/not/exist",
		"CRYPTOPAY_BITCOIN_RPC_URL": "http://mainnet:8332",
		"CRYPTOPAY_BITCOIN_NETWORK": "bitcoin",
		"CRYPTOPAY_TLS_CERT_FILE":   "/etc/cert.pem",
		"CRYPTOPAY_REDIS_URL":       "redis://prod",
	}
	dir := t.TempDir()
	getenv := devGetenv(func(k string) string { return user[k] }, dir, "http://127.0.0.1:1", "u", "p", "ws://127.0.0.1:1/ws")
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, got, want string }{
		{"listen kept", cfg.Listen, "127.0.0.1:9999"},
		{"log level kept", cfg.LogLevel.String(), "DEBUG"},
		{"database is the sandbox's", cfg.DatabaseURL, filepath.Join(dir, devDBFile)},
		{"node is the sandbox's", cfg.Bitcoin.RPCURL, "http://127.0.0.1:1"},
		{"network is regtest", cfg.Bitcoin.Network, "bitcoin-regtest"},
		{"no TLS", cfg.TLSCertFile, ""},
		{"no Redis", cfg.RedisURL, ""},
		{"default rates", cfg.Rates, devDefaultRates},
		{"webhooks may reach the developer's machine", fmt.Sprint(cfg.WebhookAllowLoopback), "true"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	user["CRYPTOPAY_RATES"] = "BTC_USD=1.00"
	if got := getenv("CRYPTOPAY_RATES"); got != "BTC_USD=1.00" {
		t.Errorf("the developer's rates were replaced: %q", got)
	}
}
