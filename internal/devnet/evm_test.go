package devnet

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/cryptopay/cryptopay/internal/evm/forwarder"
)

// TestEVMChain starts the EVM dev chain and checks it over its JSON-RPC
// port, as the gateway sees it: the contracts are deployed, the dev wallet
// pays ether and both tokens to an address with plain transfers, blocks
// come on demand and by themselves, and the accounts are the same for the
// same seed.
func TestEVMChain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seed := make([]byte, 32)
	seed[0] = 9
	n, err := StartEVM(ctx, EVMOptions{Seed: seed, BlockInterval: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := n.Stop(); err != nil {
			t.Error(err)
		}
		if err := n.Stop(); err != nil { // twice is harmless
			t.Error(err)
		}
	}()
	c, err := ethclient.DialContext(ctx, n.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if id, err := c.ChainID(ctx); err != nil || id.Int64() != EVMChainID {
		t.Fatalf("chain id %v %v", id, err)
	}
	if code, err := c.CodeAt(ctx, n.Factory(), nil); err != nil || len(code) == 0 {
		t.Fatalf("no factory code at %s: %v", n.Factory(), err)
	}

	// A deposit address the gateway would compute for an invoice.
	to := forwarder.DepositAddress(n.Factory(), n.Receiver(), forwarder.Salt("inv_devnet_test"))
	cases := []struct {
		name, asset string
		units       *big.Int
		confirm     int
	}{
		{"ether, confirmed at once", "ETH", big.NewInt(5e16), 2},
		{"USDC", "USDC", big.NewInt(25_000_000), 1},
		{"USDT (transfer returns nothing)", "USDT", big.NewInt(1_500_000), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := n.Height(ctx)
			var observed int
			res, err := n.Pay(ctx, to.Hex(), tc.asset, tc.units, tc.confirm, func(_ context.Context, tx string, confs int) error {
				observed = confs
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Blocks) != tc.confirm || observed != tc.confirm || res.Height < before+int64(tc.confirm) {
				t.Errorf("blocks %d, observed at %d confirmations, height %d after %d; want %d blocks", len(res.Blocks), observed, res.Height, before, tc.confirm)
			}
			if got := balance(t, ctx, c, n, tc.asset, to); got.Cmp(tc.units) != 0 {
				t.Errorf("%s at the deposit address: %s, want %s", tc.asset, got, tc.units)
			}
		})
	}

	// Unconfirmed: mined by the next periodic block, without asking.
	res, err := n.Pay(ctx, to.Hex(), "USDC", big.NewInt(1), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r, err := c.TransactionReceipt(ctx, common.HexToHash(res.TxHash)); err == nil && r.Status == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an unconfirmed payment was not mined by a periodic block within 10s")
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}

	refusals := []struct {
		name, addr, asset string
		units             int64
		confirm           int
	}{
		{"not an address", "bc1qxyz", "ETH", 1, 0},
		{"unknown asset", to.Hex(), "DAI", 1, 0},
		{"zero amount", to.Hex(), "ETH", 0, 0},
		{"negative confirmations", to.Hex(), "ETH", 1, -1},
	}
	for _, tc := range refusals {
		if _, err := n.Pay(ctx, tc.addr, tc.asset, big.NewInt(tc.units), tc.confirm, nil); err == nil {
			t.Errorf("%s: paid", tc.name)
		}
	}
	if _, err := n.Mine(ctx, 0); err == nil {
		t.Error("Mine(0) succeeded")
	}
	if hs, err := n.Mine(ctx, 3); err != nil || len(hs) != 3 {
		t.Errorf("Mine(3): %v %v", hs, err)
	}

	// The same seed gives the same accounts (the store's receiving
	// address survives a restart); a short seed is refused.
	again, err := deriveKey(seed, "receiver")
	if err != nil || n.Receiver() != crypto.PubkeyToAddress(again.PublicKey) {
		t.Errorf("receiver not derived from the seed: %v", err)
	}
	if _, err := StartEVM(ctx, EVMOptions{Seed: []byte("short")}); err == nil {
		t.Error("a 5-byte seed was accepted")
	}
}

func balance(t *testing.T, ctx context.Context, c *ethclient.Client, n *EVMNet, asset string, who common.Address) *big.Int {
	t.Helper()
	if asset == "ETH" {
		b, err := c.BalanceAt(ctx, who, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	token, _ := n.Token(asset)
	data, _ := n.tokenABI.Pack("balanceOf", who)
	out, err := c.CallContract(ctx, ethereum.CallMsg{To: &token, Data: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return new(big.Int).SetBytes(out)
}
