package forwarder_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"

	"github.com/cryptopay/cryptopay/contracts"
	"github.com/cryptopay/cryptopay/internal/evm/forwarder"
)

// ether is 10^18 wei.
var ether = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)

// chain is a simulated Ethereum chain with funded accounts.
type chain struct {
	t       *testing.T
	sim     *simulated.Backend
	client  simulated.Client
	payer   *ecdsa.PrivateKey // a customer's wallet
	gas     *ecdsa.PrivateKey // the operator's gas key
	chainID *big.Int
}

func newChain(t *testing.T) *chain {
	t.Helper()
	payer, _ := crypto.GenerateKey()
	gas, _ := crypto.GenerateKey()
	funds := new(big.Int).Mul(big.NewInt(1000), ether)
	sim := simulated.NewBackend(types.GenesisAlloc{
		crypto.PubkeyToAddress(payer.PublicKey): {Balance: funds},
		crypto.PubkeyToAddress(gas.PublicKey):   {Balance: funds},
	})
	t.Cleanup(func() { sim.Close() })
	c := &chain{t: t, sim: sim, client: sim.Client(), payer: payer, gas: gas}
	id, err := c.client.ChainID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.chainID = id
	return c
}

// mine commits the pending block and returns the receipt of tx, failing the
// test if tx was not mined.
func (c *chain) mine(tx *types.Transaction) *types.Receipt {
	c.t.Helper()
	c.sim.Commit()
	// The node indexes transactions in the background: a receipt can lag
	// its block by a moment.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := c.client.TransactionReceipt(context.Background(), tx.Hash())
		if err == nil {
			return r
		}
		if !errors.Is(err, ethereum.NotFound) || time.Now().After(deadline) {
			c.t.Fatalf("receipt of %s: %v", tx.Hash(), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// send signs and sends a transaction from key and mines it.
func (c *chain) send(key *ecdsa.PrivateKey, to *common.Address, value *big.Int, data []byte) *types.Receipt {
	c.t.Helper()
	ctx := context.Background()
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, err := c.client.PendingNonceAt(ctx, from)
	if err != nil {
		c.t.Fatal(err)
	}
	gas, err := c.client.EstimateGas(ctx, ethereum.CallMsg{From: from, To: to, Value: value, Data: data})
	if err != nil {
		c.t.Fatalf("estimate gas: %v", err)
	}
	head, err := c.client.HeaderByNumber(ctx, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	tip, err := c.client.SuggestGasTipCap(ctx) // the miner's minimum tip
	if err != nil {
		c.t.Fatal(err)
	}
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(c.chainID), &types.DynamicFeeTx{
		ChainID: c.chainID, Nonce: nonce, GasTipCap: tip,
		GasFeeCap: new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip),
		Gas:       gas, To: to, Value: value, Data: data,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.client.SendTransaction(ctx, tx); err != nil {
		c.t.Fatalf("send: %v", err)
	}
	return c.mine(tx)
}

// ecdsaKey shortens test signatures.
type ecdsaKey = ecdsa.PrivateKey

// sendUnestimated sends a call with a fixed 1,000,000 gas limit, so that a
// call that reverts is still mined (estimation would refuse it), and mines it.
func (c *chain) sendUnestimated(key *ecdsa.PrivateKey, to *common.Address, data []byte) *types.Receipt {
	c.t.Helper()
	ctx := context.Background()
	nonce, err := c.client.PendingNonceAt(ctx, crypto.PubkeyToAddress(key.PublicKey))
	if err != nil {
		c.t.Fatal(err)
	}
	head, err := c.client.HeaderByNumber(ctx, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	tip, err := c.client.SuggestGasTipCap(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(c.chainID), &types.DynamicFeeTx{
		ChainID: c.chainID, Nonce: nonce, GasTipCap: tip,
		GasFeeCap: new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip),
		Gas:       1_000_000, To: to, Data: data,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.client.SendTransaction(ctx, tx); err != nil {
		c.t.Fatalf("send: %v", err)
	}
	return c.mine(tx)
}

// deploy deploys an artifact with constructor-free creation code.
func (c *chain) deploy(a contracts.Artifact) common.Address {
	c.t.Helper()
	r := c.send(c.gas, nil, nil, a.Bytecode)
	if r.Status != types.ReceiptStatusSuccessful {
		c.t.Fatalf("deploy %s failed", a.Name)
	}
	return r.ContractAddress
}

// deployFactory deploys the ForwarderFactory through the package's own
// DeployFactory and returns its address.
func (c *chain) deployFactory() common.Address {
	c.t.Helper()
	addr, tx, err := forwarder.DeployFactory(context.Background(), c.client, c.gas)
	if err != nil {
		c.t.Fatal(err)
	}
	r := c.mine(tx)
	if r.Status != types.ReceiptStatusSuccessful || r.ContractAddress != addr {
		c.t.Fatalf("factory deployment: status %d at %s, want success at %s", r.Status, r.ContractAddress, addr)
	}
	return addr
}

// call makes a read-only call of method on the contract at to and unpacks
// its outputs.
func (c *chain) call(to common.Address, a contracts.Artifact, method string, args ...any) []any {
	c.t.Helper()
	parsed := mustABI(c.t, a)
	data, err := parsed.Pack(method, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	out, err := c.client.CallContract(context.Background(), ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
	res, err := parsed.Unpack(method, out)
	if err != nil {
		c.t.Fatal(err)
	}
	return res
}

// pack packs a call of method of artifact a.
func pack(t *testing.T, a contracts.Artifact, method string, args ...any) []byte {
	t.Helper()
	data, err := mustABI(t, a).Pack(method, args...)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustABI(t *testing.T, a contracts.Artifact) abi.ABI {
	t.Helper()
	parsed, err := abi.JSON(stringReader(a.ABI))
	if err != nil {
		t.Fatal(err)
	}
	return parsed
}

func (c *chain) balance(addr common.Address) *big.Int {
	c.t.Helper()
	b, err := c.client.BalanceAt(context.Background(), addr, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

func (c *chain) code(addr common.Address) []byte {
	c.t.Helper()
	code, err := c.client.CodeAt(context.Background(), addr, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return code
}
