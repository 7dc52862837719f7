package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"

	"github.com/cryptopay/cryptopay/internal/evm/forwarder"
)

// TestDoctorChecksFactoryAndGasKey runs doctor against go-ethereum's
// simulated chain served over HTTP: the factory must really be deployed at
// CRYPTOPAY_EVM_FACTORY, and the gas key is judged by its balance on the
// node (fail at zero, warn below a few sweeps' worth, pass above).
func TestDoctorChecksFactoryAndGasKey(t *testing.T) {
	deployer, _ := crypto.GenerateKey()
	funded, _ := crypto.GenerateKey()
	poor, _ := crypto.GenerateKey()
	empty, _ := crypto.GenerateKey()
	eth := func(milli int64) *big.Int { return new(big.Int).Mul(big.NewInt(milli), big.NewInt(1e15)) }
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	sim := simulated.NewBackend(types.GenesisAlloc{
		crypto.PubkeyToAddress(deployer.PublicKey): {Balance: eth(1_000_000)},
		crypto.PubkeyToAddress(funded.PublicKey):   {Balance: eth(1000)},
		crypto.PubkeyToAddress(poor.PublicKey):     {Balance: eth(10)},
	}, func(nc *node.Config, _ *ethconfig.Config) {
		nc.HTTPHost, nc.HTTPPort, nc.HTTPModules = "127.0.0.1", port, []string{"eth", "net", "web3"}
	})
	t.Cleanup(func() { sim.Close() })
	factory, _, err := forwarder.DeployFactory(context.Background(), sim.Client(), deployer)
	if err != nil {
		t.Fatal(err)
	}
	sim.Commit()

	dir := t.TempDir()
	write := func(name string, key []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(hex.EncodeToString(key)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const check = "EVM forwarder factory deployed, gas key funded"
	for _, tc := range []struct {
		name, factory, key, want string
	}{
		{"funded", factory.Hex(), write("funded.key", crypto.FromECDSA(funded)), "PASS  " + check},
		{"below a few sweeps", factory.Hex(), write("poor.key", crypto.FromECDSA(poor)), "WARN  " + check},
		{"empty", factory.Hex(), write("empty.key", crypto.FromECDSA(empty)), "FAIL  " + check + ": gas key"},
		{"no factory at the address", crypto.PubkeyToAddress(funded.PublicKey).Hex(), write("funded2.key", crypto.FromECDSA(funded)), "FAIL  " + check + ": no ForwarderFactory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &secEnv{t: t, vars: map[string]string{
				"CRYPTOPAY_DATA_DIR":         t.TempDir(),
				"CRYPTOPAY_EVM_RPC_URL":      fmt.Sprintf("http://127.0.0.1:%d", port),
				"CRYPTOPAY_EVM_NETWORK":      "evm-dev",
				"CRYPTOPAY_EVM_FACTORY":      tc.factory,
				"CRYPTOPAY_EVM_GAS_KEY_FILE": tc.key,
			}}
			e.must("migrate")
			_, out, errs := e.run("doctor")
			if !strings.Contains(out, tc.want) {
				t.Errorf("doctor output lacks %q:\n%s%s", tc.want, out, errs)
			}
		})
	}
}
