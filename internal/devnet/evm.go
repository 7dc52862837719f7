package devnet

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"

	"github.com/cryptopay/cryptopay/contracts/testtoken"
	"github.com/cryptopay/cryptopay/internal/evm/forwarder"
)

// The EVM side of the sandbox is go-ethereum's simulated backend in this
// process (nothing to install), served over real JSON-RPC on a loopback
// port, so the gateway's EVM watcher talks to it exactly as to a node. A
// block is sealed every EVMOptions.BlockInterval and on demand (Mine, Pay
// with Confirm), with whatever the pool holds. Its accounts are derived
// from the sandbox seed, so the receiving address stays the same from one
// run to the next while the chain itself starts fresh.

// EVMChainID is the simulated backend's chain id, the evm-dev network's.
const EVMChainID = 1337

// DefaultEVMBlockInterval is how often a block is sealed with nothing asked.
const DefaultEVMBlockInterval = 5 * time.Second

// EVMFunds are what the dev wallet holds at start: ether, and base units of
// each test token (1,000,000.00 with 6 decimals).
var (
	EVMFundWei    = new(big.Int).Exp(big.NewInt(10), big.NewInt(22), nil) // 10,000 ETH
	EVMFundTokens = big.NewInt(1_000_000_000_000)
)

// EVMOptions configure StartEVM.
type EVMOptions struct {
	// Seed derives the dev wallet, the deployer and the receiving address
	// (16 to 64 bytes; the Bitcoin dev wallet's seed).
	Seed []byte
	// BlockInterval: 0 means DefaultEVMBlockInterval.
	BlockInterval time.Duration
}

// EVMNet is a running EVM dev chain with the forwarder factory, a test
// USDC (returns bool) and a test USDT (returns nothing, as Tether's does)
// deployed, and a funded dev wallet that pays invoices.
type EVMNet struct {
	mu       sync.Mutex // serialises sending and sealing
	sim      *simulated.Backend
	client   simulated.Client
	url      string
	wallet   *ecdsa.PrivateKey
	receiver common.Address
	factory  common.Address
	tokens   map[string]common.Address // asset code -> contract
	tokenABI abi.ABI
	nonce    uint64 // the wallet's next nonce
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// deriveKey makes the role's key from the seed, the same every run.
func deriveKey(seed []byte, role string) (*ecdsa.PrivateKey, error) {
	return crypto.ToECDSA(crypto.Keccak256([]byte("cryptopay/devnet/evm/"+role), seed))
}

// StartEVM starts the chain, deploys the contracts and funds the dev
// wallet. The caller must Stop it. It returns an error if the seed is
// unusable, no loopback port is free or a deployment fails.
func StartEVM(ctx context.Context, opts EVMOptions) (_ *EVMNet, err error) {
	if len(opts.Seed) < 16 {
		return nil, errors.New("devnet: EVM: a seed of at least 16 bytes is required")
	}
	interval := opts.BlockInterval
	if interval == 0 {
		interval = DefaultEVMBlockInterval
	}
	keys := map[string]*ecdsa.PrivateKey{}
	for _, role := range []string{"wallet", "deployer", "receiver"} {
		if keys[role], err = deriveKey(opts.Seed, role); err != nil {
			return nil, fmt.Errorf("devnet: EVM %s key: %w", role, err)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	wallet, deployer := keys["wallet"], keys["deployer"]
	sim := simulated.NewBackend(types.GenesisAlloc{
		crypto.PubkeyToAddress(wallet.PublicKey):   {Balance: EVMFundWei},
		crypto.PubkeyToAddress(deployer.PublicKey): {Balance: EVMFundWei},
	}, func(nc *node.Config, _ *ethconfig.Config) {
		nc.HTTPHost, nc.HTTPPort, nc.HTTPModules = "127.0.0.1", port, []string{"eth", "net", "web3"}
	})
	n := &EVMNet{sim: sim, client: sim.Client(), url: fmt.Sprintf("http://127.0.0.1:%d", port), wallet: wallet,
		receiver: crypto.PubkeyToAddress(keys["receiver"].PublicKey), tokens: map[string]common.Address{},
		stop: make(chan struct{}), done: make(chan struct{})}
	defer func() {
		if err != nil {
			close(n.done) // no producer runs yet
			err = errors.Join(err, n.Stop())
		}
	}()
	if n.tokenABI, err = abi.JSON(strings.NewReader(testtoken.BoolToken.ABI)); err != nil {
		return nil, err
	}
	if err := n.deploy(ctx, deployer); err != nil {
		return nil, fmt.Errorf("devnet: EVM: %w", err)
	}
	go n.produce(interval)
	return n, nil
}

// deploy puts the factory and the tokens on chain and mints the tokens to
// the dev wallet, checking each receipt.
func (n *EVMNet) deploy(ctx context.Context, deployer *ecdsa.PrivateKey) error {
	from := crypto.PubkeyToAddress(deployer.PublicKey)
	factory, tx, err := forwarder.DeployFactory(ctx, n.client, deployer)
	if err != nil {
		return fmt.Errorf("deploy the forwarder factory: %w", err)
	}
	txs := []*types.Transaction{tx}
	nonce := tx.Nonce() + 1
	send := func(to *common.Address, data []byte) error {
		tx, err := n.sign(deployer, nonce, to, nil, data)
		if err == nil {
			err = n.client.SendTransaction(ctx, tx)
		}
		nonce++
		txs = append(txs, tx)
		return err
	}
	for _, t := range []struct {
		asset string
		code  []byte
	}{{"USDC", testtoken.BoolToken.Bytecode}, {"USDT", testtoken.NoBoolToken.Bytecode}} {
		n.tokens[t.asset] = crypto.CreateAddress(from, nonce)
		if err := send(nil, t.code); err != nil {
			return fmt.Errorf("deploy the test %s: %w", t.asset, err)
		}
	}
	for asset, token := range n.tokens {
		data, err := n.tokenABI.Pack("mint", crypto.PubkeyToAddress(n.wallet.PublicKey), EVMFundTokens)
		if err == nil {
			err = send(&token, data)
		}
		if err != nil {
			return fmt.Errorf("mint the test %s: %w", asset, err)
		}
	}
	if err := n.waitPool(ctx, from, nonce); err != nil {
		return err
	}
	n.sim.Commit()
	for _, tx := range txs {
		r, err := n.client.TransactionReceipt(ctx, tx.Hash())
		if err != nil || r.Status != types.ReceiptStatusSuccessful {
			return fmt.Errorf("set-up transaction %s failed: %v", tx.Hash(), err)
		}
	}
	n.factory = factory
	return nil
}

// produce seals a block every interval until Stop.
func (n *EVMNet) produce(interval time.Duration) {
	defer close(n.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.mu.Lock()
			n.sim.Commit()
			n.mu.Unlock()
		}
	}
}

// Stop stops block production and the chain. It is safe to call more
// than once.
func (n *EVMNet) Stop() error {
	var err error
	n.stopOnce.Do(func() {
		close(n.stop)
		<-n.done
		err = n.sim.Close()
	})
	return err
}

// RPCURL is the chain's JSON-RPC endpoint (http://127.0.0.1:port).
func (n *EVMNet) RPCURL() string { return n.url }

// Factory is the deployed ForwarderFactory.
func (n *EVMNet) Factory() common.Address { return n.factory }

// Token returns the test contract of asset ("USDC" or "USDT").
func (n *EVMNet) Token(asset string) (common.Address, bool) {
	a, ok := n.tokens[asset]
	return a, ok
}

// TokensSpec is the token registry as CRYPTOPAY_EVM_TOKENS writes it.
func (n *EVMNet) TokensSpec() string {
	return "USDC=" + n.tokens["USDC"].Hex() + ",USDT=" + n.tokens["USDT"].Hex()
}

// Receiver is the sandbox store's receiving address: where sweeps send the
// money.
func (n *EVMNet) Receiver() common.Address { return n.receiver }

// Wallet is the dev wallet's address, which pays invoices.
func (n *EVMNet) Wallet() common.Address { return crypto.PubkeyToAddress(n.wallet.PublicKey) }

// Height is the chain's latest block number.
func (n *EVMNet) Height(ctx context.Context) (int64, error) {
	h, err := n.client.BlockNumber(ctx)
	return int64(h), err
}

// Mine seals count blocks at once and returns their hashes, oldest first.
// It returns an error if count is not positive.
func (n *EVMNet) Mine(ctx context.Context, count int) ([]string, error) {
	if count < 1 {
		return nil, fmt.Errorf("devnet: mine %d blocks: want at least 1", count)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mine(count), nil
}

func (n *EVMNet) mine(count int) []string {
	out := make([]string, count)
	for i := range out {
		out[i] = n.sim.Commit().Hex()
	}
	return out
}

// EVMPayResult describes what PayEVM did.
type EVMPayResult struct {
	TxHash string
	// Blocks are the blocks sealed for the payment, the first holding it.
	Blocks []string
	Height int64
}

// Pay sends units of asset ("ETH" in wei, or a test token's base units)
// from the dev wallet to addr with a plain transfer, then seals confirm
// blocks (the payment in the first), calling observed, if set, after
// them. With confirm 0 the payment waits for the next periodic block.
func (n *EVMNet) Pay(ctx context.Context, addr, asset string, units *big.Int, confirm int, observed func(ctx context.Context, txHash string, confs int) error) (*EVMPayResult, error) {
	if !common.IsHexAddress(addr) {
		return nil, fmt.Errorf("devnet: %q is not an EVM address", addr)
	}
	if units.Sign() <= 0 {
		return nil, errors.New("devnet: the amount must be positive")
	}
	if confirm < 0 {
		return nil, fmt.Errorf("devnet: confirm %d: must not be negative", confirm)
	}
	to := common.HexToAddress(addr)
	var (
		dest  = &to
		value = units
		data  []byte
	)
	if asset != "ETH" {
		token, ok := n.tokens[asset]
		if !ok {
			return nil, fmt.Errorf("devnet: the dev chain has no %s", asset)
		}
		var err error
		if data, err = n.tokenABI.Pack("transfer", to, units); err != nil {
			return nil, err
		}
		dest, value = &token, nil
	}
	n.mu.Lock()
	from := n.Wallet()
	if n.nonce == 0 {
		nonce, err := n.client.NonceAt(ctx, from, nil)
		if err != nil {
			n.mu.Unlock()
			return nil, err
		}
		n.nonce = nonce
	}
	tx, err := n.sign(n.wallet, n.nonce, dest, value, data)
	if err == nil {
		err = n.client.SendTransaction(ctx, tx)
	}
	if err != nil {
		n.mu.Unlock()
		return nil, fmt.Errorf("devnet: send: %w", err)
	}
	n.nonce++
	res := &EVMPayResult{TxHash: tx.Hash().Hex()}
	if err := n.waitPool(ctx, from, n.nonce); err != nil {
		n.mu.Unlock()
		return res, err
	}
	if confirm > 0 {
		res.Blocks = n.mine(confirm)
	}
	n.mu.Unlock()
	if confirm > 0 {
		r, err := n.client.TransactionReceipt(ctx, tx.Hash())
		if err != nil {
			return res, fmt.Errorf("devnet: receipt of %s: %w", tx.Hash(), err)
		}
		if r.Status != types.ReceiptStatusSuccessful {
			return res, fmt.Errorf("devnet: payment %s reverted (the dev wallet lacks %s?)", tx.Hash(), asset)
		}
		if observed != nil {
			if err := observed(ctx, res.TxHash, confirm); err != nil {
				return res, err
			}
		}
	}
	res.Height, err = n.Height(ctx)
	return res, err
}

// sign builds a transaction with fees well above the dev chain's base fee.
func (n *EVMNet) sign(key *ecdsa.PrivateKey, nonce uint64, to *common.Address, value *big.Int, data []byte) (*types.Transaction, error) {
	gas := uint64(21_000)
	if len(data) > 0 {
		gas = 3_000_000 // a deployment or a token call; what is unused is not paid
	}
	return types.SignNewTx(key, types.LatestSignerForChainID(big.NewInt(EVMChainID)), &types.DynamicFeeTx{
		ChainID: big.NewInt(EVMChainID), Nonce: nonce, Gas: gas, To: to, Value: value, Data: data,
		GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(100e9),
	})
}

// waitPool waits until the pool holds from's transactions up to next: it
// takes them in asynchronously, and a block sealed before would miss them.
func (n *EVMNet) waitPool(ctx context.Context, from common.Address, next uint64) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		got, err := n.client.PendingNonceAt(ctx, from)
		if err == nil && got >= next {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devnet: the pool did not take the transaction: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// freePort returns a loopback TCP port free a moment ago: the simulated
// node takes a port number, not a listener.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("devnet: EVM port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
