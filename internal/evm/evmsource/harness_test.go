package evmsource_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/contracts/testtoken"
	"github.com/cryptopay/cryptopay/internal/evm/evmnet"
	"github.com/cryptopay/cryptopay/internal/evm/evmsource"
	"github.com/cryptopay/cryptopay/internal/evm/forwarder"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/watcher"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

// simChainID is the simulated backend's chain id.
const simChainID = 1337

// harness is one gateway (service + watcher) over a real database and
// go-ethereum's in-process simulated chain, with the forwarder factory and
// a 6-decimal token (the forwarder's BoolToken, standing in for USDC)
// deployed. Every call goes through the JSON-RPC the source uses against a
// real node.
type harness struct {
	t        *testing.T
	ctx      context.Context
	sim      *simulated.Backend
	client   simulated.Client
	payer    *ecdsa.PrivateKey // funded; pays invoices
	other    *ecdsa.PrivateKey // funded; makes unrelated transactions
	token    common.Address
	tokenABI abi.ABI
	db       storage.DB
	svc      *gateway.Service
	key      *cryptopay.APIKey
	w        *watcher.Watcher
	src      *evmsource.Source
	receiver common.Address
	nonces   map[common.Address]uint64 // next nonce per sender
	chain    evmnet.Chain
	factory  common.Address
}

func newHarness(t *testing.T, db storage.DB) *harness {
	t.Helper()
	ctx := context.Background()
	payer, _ := crypto.GenerateKey()
	other, _ := crypto.GenerateKey()
	deployer, _ := crypto.GenerateKey()
	rich := new(big.Int).Exp(big.NewInt(10), big.NewInt(24), nil)
	// The backend also serves its JSON-RPC over HTTP on loopback: the
	// source talks to it exactly as to a node.
	port := freePort(t)
	sim := simulated.NewBackend(types.GenesisAlloc{
		crypto.PubkeyToAddress(payer.PublicKey):    {Balance: rich},
		crypto.PubkeyToAddress(other.PublicKey):    {Balance: rich},
		crypto.PubkeyToAddress(deployer.PublicKey): {Balance: rich},
	}, func(nc *node.Config, _ *ethconfig.Config) {
		nc.HTTPHost, nc.HTTPPort, nc.HTTPModules = "127.0.0.1", port, []string{"eth", "net", "web3"}
	})
	t.Cleanup(func() { sim.Close() })
	h := &harness{t: t, ctx: ctx, sim: sim, client: sim.Client(), payer: payer, other: other, db: db, nonces: map[common.Address]uint64{}}
	var err error
	if h.tokenABI, err = abi.JSON(strings.NewReader(testtoken.BoolToken.ABI)); err != nil {
		t.Fatal(err)
	}
	factory, _, err := forwarder.DeployFactory(ctx, h.client, deployer)
	if err != nil {
		t.Fatal(err)
	}
	h.commit()
	h.nonces[crypto.PubkeyToAddress(deployer.PublicKey)] = 1
	h.token = crypto.CreateAddress(crypto.PubkeyToAddress(deployer.PublicKey), 1)
	h.send(deployer, nil, nil, testtoken.BoolToken.Bytecode, 1)
	h.commit()
	h.send(deployer, &h.token, nil, h.pack("mint", crypto.PubkeyToAddress(payer.PublicKey), big.NewInt(1_000_000_000)), 1)
	h.send(deployer, &h.token, nil, h.pack("mint", crypto.PubkeyToAddress(other.PublicKey), big.NewInt(1_000_000_000)), 1)
	h.commit()

	chain := evmnet.Chain{Network: cryptopay.NetworkEVMDev, ChainID: simChainID, ReorgLimit: 64,
		Tokens: []evmnet.Token{{Asset: "USDC", Contract: h.token, Decimals: 6}}}
	h.gateway(fmt.Sprintf("http://127.0.0.1:%d", port), chain, factory)
	h.step()
	return h
}

func (h *harness) pack(method string, args ...any) []byte {
	data, err := h.tokenABI.Pack(method, args...)
	if err != nil {
		h.t.Fatal(err)
	}
	return data
}

// send signs and sends a transaction from key at its pending nonce; fee
// scales the gas price (a replacement needs a higher one).
func (h *harness) send(key *ecdsa.PrivateKey, to *common.Address, value *big.Int, data []byte, fee int64) *types.Transaction {
	h.t.Helper()
	// Nonces are counted here: the pool's pending nonce lags a
	// transaction just sent.
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, ok := h.nonces[from]
	if !ok {
		var err error
		if nonce, err = h.client.NonceAt(h.ctx, from, nil); err != nil {
			h.t.Fatal(err)
		}
	}
	h.nonces[from] = nonce + 1
	return h.sendNonce(key, nonce, to, value, data, fee)
}

func (h *harness) sendNonce(key *ecdsa.PrivateKey, nonce uint64, to *common.Address, value *big.Int, data []byte, fee int64) *types.Transaction {
	h.t.Helper()
	gas := uint64(21_000)
	if len(data) > 0 {
		gas = 3_000_000
	}
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(big.NewInt(simChainID)), &types.DynamicFeeTx{
		ChainID: big.NewInt(simChainID), Nonce: nonce, Gas: gas, To: to, Value: value, Data: data,
		GasTipCap: big.NewInt(fee * 1e9), GasFeeCap: big.NewInt(fee * 10e9),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.client.SendTransaction(h.ctx, tx); err != nil {
		h.t.Fatalf("send: %v", err)
	}
	return tx
}

// payETH sends wei to address; payToken sends token base units.
func (h *harness) payETH(to string, wei *big.Int) *types.Transaction {
	a := common.HexToAddress(to)
	return h.send(h.payer, &a, wei, nil, 1)
}

func (h *harness) payToken(to string, units int64) *types.Transaction {
	return h.send(h.payer, &h.token, nil, h.pack("transfer", common.HexToAddress(to), big.NewInt(units)), 1)
}

// commit mines a block, after waiting (a little) for the pool to hold
// every transaction sent: it takes them in asynchronously.
func (h *harness) commit() common.Hash {
	deadline := time.Now().Add(2 * time.Second)
	for from, next := range h.nonces {
		for time.Now().Before(deadline) {
			if n, err := h.client.PendingNonceAt(h.ctx, from); err == nil && n >= next {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return h.sim.Commit()
}

// step runs one watcher pass, which must succeed.
func (h *harness) step() {
	h.t.Helper()
	if err := h.w.Step(h.ctx); err != nil {
		h.t.Fatalf("Step: %v", err)
	}
}

func (h *harness) invoice(order, amount, currency, asset string) *cryptopay.Invoice {
	h.t.Helper()
	inv, err := h.svc.CreateInvoice(h.ctx, h.key, gateway.InvoiceParams{OrderID: order, Amount: amount,
		Currency: currency, Network: string(cryptopay.NetworkEVMDev), Asset: asset, ExpiresIn: time.Hour})
	if err != nil {
		h.t.Fatal(err)
	}
	return inv
}

func (h *harness) get(id string) *cryptopay.Invoice {
	h.t.Helper()
	inv, err := h.db.GetInvoice(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return inv
}

// events returns the types of the invoice's events, oldest first.
func (h *harness) events(id string) []string {
	h.t.Helper()
	evs, _, err := h.db.ListEvents(h.ctx, storage.EventFilter{InvoiceID: id, StoreID: h.key.StoreID, Page: storage.Page{Limit: 100}})
	if err != nil {
		h.t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, e := range evs {
		out[len(evs)-1-i] = string(e.Type)
	}
	return out
}

type storageDB = storage.DB

// head returns the hash of the chain's latest block.
func (h *harness) head() common.Hash {
	h.t.Helper()
	hd, err := h.client.HeaderByNumber(h.ctx, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return hd.Hash()
}

func lower(x common.Hash) string { return strings.ToLower(x.Hex()) }

// freePort returns a loopback TCP port free a moment ago.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// gateway builds the service (with a test store and key) and the watcher
// over the node at rpcURL, and runs the first watcher pass.
func (h *harness) gateway(rpcURL string, chain evmnet.Chain, factory common.Address) {
	t, ctx, db := h.t, h.ctx, h.db
	h.chain, h.factory = chain, factory
	policy, err := chain.Policy("2", false)
	if err != nil {
		t.Fatal(err)
	}
	deposits := &evmnet.Deposits{Chain: chain, Factory: factory, Policy: policy}
	rc, err := rpc.DialContext(ctx, rpcURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	h.src = evmsource.New(rc, chain, false)
	if err := h.src.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	ob, err := webhook.NewOutbox(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.svc = gateway.New(gateway.Config{DB: db, Outbox: ob, EVM: map[cryptopay.Network]gateway.EVMChain{chain.Network: deposits}})
	recv, _ := crypto.GenerateKey()
	h.receiver = crypto.PubkeyToAddress(recv.PublicKey)
	st, err := h.svc.CreateStore(ctx, gateway.StoreParams{Name: "evm test", Wallets: []gateway.WalletParams{
		{Network: string(chain.Network), AccountKey: strings.ToLower(h.receiver.Hex())},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := h.svc.CreateKey(ctx, gateway.KeyParams{StoreID: st.ID, Scopes: []string{"invoices:read", "invoices:write"}})
	if err != nil {
		t.Fatal(err)
	}
	h.key = ck.Key
	h.w = watcher.New(watcher.Config{DB: db, Outbox: ob, Source: h.src, SafetyLimit: chain.ReorgLimit})
	h.svc.OnInvoiceCreated(func(inv *cryptopay.Invoice) { h.w.Watch(inv.Address, inv.MonitorUntil) })
}
