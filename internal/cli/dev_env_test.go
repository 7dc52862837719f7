package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/config"
	"github.com/cryptopay/cryptopay/internal/devnet"
)

// TestDevConfig: the sandbox keeps the developer's harmless settings but
// never their database, configuration file, node or production edge.
func TestDevConfig(t *testing.T) {
	user := map[string]string{
		"CRYPTOPAY_LISTEN":           "127.0.0.1:9999",
		"CRYPTOPAY_LOG_LEVEL":        "debug",
		"CRYPTOPAY_DATABASE_URL":     "postgres://prod/db",
		"CRYPTOPAY_CONFIG_FILE":      "/does/not/exist",
		"CRYPTOPAY_BITCOIN_RPC_URL":  "http://mainnet:8332",
		"CRYPTOPAY_BITCOIN_NETWORK":  "bitcoin",
		"CRYPTOPAY_TLS_CERT_FILE":    "/etc/cert.pem",
		"CRYPTOPAY_REDIS_URL":        "redis://prod",
		"CRYPTOPAY_EVM_RPC_URL":      "https://mainnet.example/rpc",
		"CRYPTOPAY_EVM_NETWORK":      "ethereum",
		"CRYPTOPAY_EVM_FACTORY":      "0x00000000000000000000000000000000000000f1",
		"CRYPTOPAY_EVM_GAS_KEY_FILE": "/etc/cryptopay/gas.key",
	}
	dir := t.TempDir()
	getenv := devGetenv(func(k string) string { return user[k] }, dir, "http://127.0.0.1:1", "u", "p", "ws://127.0.0.1:1/ws", nil)
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
		{"no EVM node without the sandbox's chain", cfg.EVM.RPCURL, ""},
		{"no factory of the developer's", cfg.EVM.Factory, ""},
		{"never the developer's gas key", getenv("CRYPTOPAY_EVM_GAS_KEY_FILE"), ""},
		{"EVM polls fast", cfg.EVM.PollInterval.String(), devEVMPoll},
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

// TestDevConfigEVM: with the sandbox's EVM chain, the gateway is pointed
// at it, its factory and its test tokens, on the evm-dev network.
func TestDevConfigEVM(t *testing.T) {
	seed := make([]byte, 32)
	evm, err := devnet.StartEVM(t.Context(), devnet.EVMOptions{Seed: seed, BlockInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { evm.Stop() })
	user := map[string]string{"CRYPTOPAY_EVM_RPC_URL": "https://mainnet.example/rpc", "CRYPTOPAY_EVM_TOKENS": "USDC=0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"}
	cfg, err := config.Load(devGetenv(func(k string) string { return user[k] }, t.TempDir(), "http://127.0.0.1:1", "u", "p", "ws://127.0.0.1:1/ws", evm))
	if err != nil {
		t.Fatal(err)
	}
	usdc, _ := evm.Token("USDC")
	cases := []struct{ name, got, want string }{
		{"node", cfg.EVM.RPCURL, evm.RPCURL()},
		{"network", cfg.EVM.Network, "evm-dev"},
		{"factory", cfg.EVM.Factory, evm.Factory().Hex()},
		{"test tokens", cfg.EVM.Tokens, evm.TokensSpec()},
		{"USDC is the deployed one", fmt.Sprint(strings.Contains(cfg.EVM.Tokens, usdc.Hex())), "true"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}
