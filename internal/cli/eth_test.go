package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEthSweepRefusesBadInvocations: each mistake is named and nothing is
// sent; in particular a gas key file others can read is refused before any
// node is contacted.
func TestEthSweepRefusesBadInvocations(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.key")
	if err := os.WriteFile(loose, []byte(strings.Repeat("ab", 32)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	const recv = "0x00000000000000000000000000000000000000aa"
	good := map[string]string{
		"CRYPTOPAY_EVM_RPC_URL":      "http://127.0.0.1:1", // nothing listens; never reached
		"CRYPTOPAY_EVM_FACTORY":      "0x00000000000000000000000000000000000000fa",
		"CRYPTOPAY_EVM_GAS_KEY_FILE": loose,
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		code int
		want string
	}{
		{"no verb", good, []string{"eth"}, 2, "eth sweep|deploy-factory"},
		{"no receiver", good, []string{"eth", "sweep", "inv_1"}, 2, "--receiver is required"},
		{"bad receiver", good, []string{"eth", "sweep", "--receiver", "0x12", "inv_1"}, 2, "not a 0x-prefixed 20-byte hex address"},
		{"bad token", good, []string{"eth", "sweep", "--receiver", recv, "--token", "USDC", "inv_1"}, 2, `"USDC" is not a 0x-prefixed`},
		{"no invoices", good, []string{"eth", "sweep", "--receiver", recv}, 2, "at least one invoice id"},
		{"no node", with("CRYPTOPAY_EVM_RPC_URL", ""), []string{"eth", "sweep", "--receiver", recv, "inv_1"}, 1, "CRYPTOPAY_EVM_RPC_URL is not set"},
		{"bad factory", with("CRYPTOPAY_EVM_FACTORY", "factory"), []string{"eth", "sweep", "--receiver", recv, "inv_1"}, 1, "CRYPTOPAY_EVM_FACTORY"},
		{"bad batch", with("CRYPTOPAY_EVM_SWEEP_BATCH", "0"), []string{"eth", "sweep", "--receiver", recv, "inv_1"}, 1, "CRYPTOPAY_EVM_SWEEP_BATCH"},
		{"bad ceiling", with("CRYPTOPAY_EVM_SWEEP_MAX_GAS_PRICE", "-1"), []string{"eth", "sweep", "--receiver", recv, "inv_1"}, 1, "CRYPTOPAY_EVM_SWEEP_MAX_GAS_PRICE"},
		{"loose gas key", good, []string{"eth", "sweep", "--receiver", recv, "inv_1"}, 1, "chmod 600"},
		{"loose gas key, deploy", good, []string{"eth", "deploy-factory"}, 1, "chmod 600"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &secEnv{t: t, vars: tc.vars}
			code, _, errs := e.run(tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, errs, tc.code, tc.want)
			}
		})
	}
}

// TestEthCommandsReadTheConfigFile: the EVM operator commands read the node,
// factory and gas key through internal/config as serve does, so settings in
// CRYPTOPAY_CONFIG_FILE count (the environment still wins). Each run stops
// at the loose gas key, which proves the node and factory were found.
func TestEthCommandsReadTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.key")
	if err := os.WriteFile(loose, []byte(strings.Repeat("ab", 32)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "cryptopay.env")
	body := "CRYPTOPAY_EVM_RPC_URL=http://127.0.0.1:1\nCRYPTOPAY_EVM_FACTORY=0x00000000000000000000000000000000000000fa\nCRYPTOPAY_EVM_GAS_KEY_FILE=" + loose + "\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	const recv = "0x00000000000000000000000000000000000000aa"
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"sweep from the file", map[string]string{"CRYPTOPAY_CONFIG_FILE": file}, []string{"eth", "sweep", "--receiver", recv, "inv_1"}, "chmod 600"},
		{"deploy from the file", map[string]string{"CRYPTOPAY_CONFIG_FILE": file}, []string{"eth", "deploy-factory"}, "chmod 600"},
		{"environment wins", map[string]string{"CRYPTOPAY_CONFIG_FILE": file, "CRYPTOPAY_EVM_FACTORY": "factory"}, []string{"eth", "sweep", "--receiver", recv, "inv_1"}, `have "factory"`},
		{"a listed network", map[string]string{"CRYPTOPAY_EVM_NETWORKS": "base", "CRYPTOPAY_EVM_BASE_RPC_URL": "http://127.0.0.1:1", "CRYPTOPAY_EVM_GAS_KEY_FILE": loose}, []string{"eth", "deploy-factory", "--network", "base"}, "chmod 600"},
		{"a listed network's factory is its own", map[string]string{"CRYPTOPAY_CONFIG_FILE": file, "CRYPTOPAY_EVM_NETWORKS": "base", "CRYPTOPAY_EVM_BASE_RPC_URL": "http://127.0.0.1:1"}, []string{"eth", "sweep", "--network", "base", "--receiver", recv, "inv_1"}, "CRYPTOPAY_EVM_BASE_FACTORY"},
		{"a network not configured", map[string]string{"CRYPTOPAY_CONFIG_FILE": file}, []string{"eth", "deploy-factory", "--network", "polygon"}, "--network polygon: not configured"},
		{"a bad EVM setting is named", map[string]string{"CRYPTOPAY_CONFIG_FILE": file, "CRYPTOPAY_EVM_CHAIN_ID": "x"}, []string{"eth", "deploy-factory"}, "CRYPTOPAY_EVM_CHAIN_ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &secEnv{t: t, vars: tc.vars}
			code, _, errs := e.run(tc.args...)
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 1 mentioning %q", code, errs, tc.want)
			}
		})
	}
}
