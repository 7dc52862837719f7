package cli

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/contracts/testtoken"
	"github.com/cryptopay/cryptopay/internal/evm/forwarder"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// simNode is a go-ethereum simulated chain (chain id 1337) served over
// HTTP, with a ForwarderFactory and a 6-decimal token deployed and a
// funded payer.
type simNode struct {
	t       *testing.T
	sim     *simulated.Backend
	url     string
	payer   *ecdsa.PrivateKey
	factory common.Address
	token   common.Address
	nonces  map[common.Address]uint64
}

func newSimNode(t *testing.T) *simNode {
	t.Helper()
	payer, _ := crypto.GenerateKey()
	deployer, _ := crypto.GenerateKey()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	rich := new(big.Int).Exp(big.NewInt(10), big.NewInt(24), nil)
	sim := simulated.NewBackend(types.GenesisAlloc{
		crypto.PubkeyToAddress(payer.PublicKey):    {Balance: rich},
		crypto.PubkeyToAddress(deployer.PublicKey): {Balance: rich},
	}, func(nc *node.Config, _ *ethconfig.Config) {
		nc.HTTPHost, nc.HTTPPort, nc.HTTPModules = "127.0.0.1", port, []string{"eth", "net", "web3"}
	})
	t.Cleanup(func() { sim.Close() })
	n := &simNode{t: t, sim: sim, url: fmt.Sprintf("http://127.0.0.1:%d", port), payer: payer, nonces: map[common.Address]uint64{}}
	if n.factory, _, err = forwarder.DeployFactory(context.Background(), sim.Client(), deployer); err != nil {
		t.Fatal(err)
	}
	n.nonces[crypto.PubkeyToAddress(deployer.PublicKey)] = 1
	n.commit()
	n.token = crypto.CreateAddress(crypto.PubkeyToAddress(deployer.PublicKey), 1)
	n.send(deployer, nil, nil, testtoken.BoolToken.Bytecode)
	n.commit()
	return n
}

// send signs and sends from key at the nonce counted here.
func (n *simNode) send(key *ecdsa.PrivateKey, to *common.Address, value *big.Int, data []byte) {
	n.t.Helper()
	from := crypto.PubkeyToAddress(key.PublicKey)
	gas := uint64(21_000)
	if len(data) > 0 {
		gas = 3_000_000
	}
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(big.NewInt(1337)), &types.DynamicFeeTx{
		ChainID: big.NewInt(1337), Nonce: n.nonces[from], Gas: gas, To: to, Value: value, Data: data,
		GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(10e9)})
	if err != nil {
		n.t.Fatal(err)
	}
	if err := n.sim.Client().SendTransaction(context.Background(), tx); err != nil {
		n.t.Fatal(err)
	}
	n.nonces[from]++
}

// commit mines a block once the pool holds every transaction sent.
func (n *simNode) commit() {
	for from, next := range n.nonces {
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if got, err := n.sim.Client().PendingNonceAt(context.Background(), from); err == nil && got >= next {
				break
			}
		}
	}
	n.sim.Commit()
}

// TestServeWatchesSeveralEVMNetworks configures two EVM networks (the
// one-network shorthand and one listed in CRYPTOPAY_EVM_NETWORKS), each with
// its own node, factory and tokens: serve builds one watcher per network,
// invoices on each get their own deposit addresses, and each network's
// payment is seen by its own watcher only.
func TestServeWatchesSeveralEVMNetworks(t *testing.T) {
	dev, sep := newSimNode(t), newSimNode(t)
	vars := map[string]string{
		"CRYPTOPAY_DATA_DIR":    t.TempDir(),
		"CRYPTOPAY_EVM_RPC_URL": dev.url, "CRYPTOPAY_EVM_NETWORK": "evm-dev", "CRYPTOPAY_EVM_FACTORY": dev.factory.Hex(),
		"CRYPTOPAY_EVM_NETWORKS":              "sepolia",
		"CRYPTOPAY_EVM_SEPOLIA_RPC_URL":       sep.url,
		"CRYPTOPAY_EVM_SEPOLIA_CHAIN_ID":      "1337", // the simulated backend's
		"CRYPTOPAY_EVM_SEPOLIA_FACTORY":       sep.factory.Hex(),
		"CRYPTOPAY_EVM_SEPOLIA_TOKENS":        "USDC=" + sep.token.Hex(),
		"CRYPTOPAY_EVM_SEPOLIA_CONFIRMATIONS": "1",
	}
	env := Env{Getenv: func(k string) string { return vars[k] }}
	env.Stdout, env.Stderr = new(strings.Builder), new(strings.Builder)
	ctx := context.Background()
	if code := Run(ctx, []string{"migrate"}, env); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, env.Stderr)
	}
	err := withApp(ctx, env, true, func(a *app) error {
		ws, err := a.evmWatchers(ctx)
		if err != nil {
			return err
		}
		if len(ws) != 2 || ws[0].Network() != cryptopay.NetworkEVMDev || ws[1].Network() != cryptopay.NetworkSepolia {
			t.Fatalf("watchers %v, want evm-dev and sepolia", ws)
		}
		recv, _ := crypto.GenerateKey()
		receiver := strings.ToLower(crypto.PubkeyToAddress(recv.PublicKey).Hex())
		st, err := a.svc.CreateStore(ctx, gateway.StoreParams{Name: "two chains", Wallets: []gateway.WalletParams{
			{Network: "evm-dev", AccountKey: receiver}, {Network: "sepolia", AccountKey: receiver}}})
		if err != nil {
			return err
		}
		ck, err := a.svc.CreateKey(ctx, gateway.KeyParams{StoreID: st.ID, Scopes: []string{"invoices:read", "invoices:write"}})
		if err != nil {
			return err
		}
		mk := func(order, network, asset string) *cryptopay.Invoice {
			inv, err := a.svc.CreateInvoice(ctx, ck.Key, gateway.InvoiceParams{OrderID: order, Amount: "1", Currency: asset,
				Network: network, Asset: asset, ExpiresIn: time.Hour})
			if err != nil {
				t.Fatalf("%s invoice: %v", network, err)
			}
			return inv
		}
		onDev, onSep := mk("dev", "evm-dev", "ETH"), mk("sep", "sepolia", "ETH")
		if want := forwarder.DepositAddress(sep.factory, common.HexToAddress(receiver), forwarder.Salt(onSep.ID)).Hex(); onSep.Address != want {
			t.Errorf("sepolia deposit address %s, want %s from its own factory", onSep.Address, want)
		}
		mk("usdc", "sepolia", "USDC") // the listed network's own token registry
		for _, w := range ws {
			if err := w.Step(ctx); err != nil {
				return err
			}
		}
		one := new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
		// Each invoice paid on its own chain; the sepolia invoice's address
		// also receives ether on the evm-dev chain, which is not its network.
		to := func(inv *cryptopay.Invoice) common.Address { return common.HexToAddress(inv.Address) }
		dev.send(dev.payer, ptr(to(onDev)), one, nil)
		dev.send(dev.payer, ptr(to(onSep)), one, nil)
		sep.send(sep.payer, ptr(to(onSep)), new(big.Int).Div(one, big.NewInt(2)), nil)
		dev.commit()
		sep.commit()
		for _, w := range ws {
			if err := w.Step(ctx); err != nil {
				return err
			}
		}
		for _, c := range []struct {
			inv  *cryptopay.Invoice
			paid *big.Int
		}{{onDev, one}, {onSep, new(big.Int).Div(one, big.NewInt(2))}} {
			got, err := a.db.GetInvoice(ctx, c.inv.ID)
			if err != nil {
				return err
			}
			if got.AmountPaid.Cmp(c.paid) != 0 || len(got.Payments) != 1 {
				t.Errorf("%s invoice paid %s in %d payments, want %s in 1 (its own chain's)", c.inv.Network, got.AmountPaid, len(got.Payments), c.paid)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }
