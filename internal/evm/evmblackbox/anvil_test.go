package evmblackbox

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/cryptopay/cryptopay/client"
	"github.com/cryptopay/cryptopay/contracts/testtoken"
	"github.com/cryptopay/cryptopay/internal/testdb"
	"github.com/cryptopay/cryptopay/webhooksig"
)

// AnvilEnv names the anvil binary (.ci/run installs the pinned npm package
// @foundry-rs/anvil-linux-amd64 and exports it).
const AnvilEnv = "CRYPTOPAY_ANVIL"

// chainID is the evm-dev network's chain id in the gateway's registry;
// anvil is started with it.
const chainID = 1337

// TestAnvilEndToEnd runs the gateway binary against anvil as a shop and
// an operator would: the operator deploys the forwarder factory with the
// gas key and creates a store whose receiving address is a fresh account;
// the shop registers a webhook receiver and creates ETH, USDC (a 6-decimal
// token that returns bool) and USDT (one whose transfer returns nothing)
// invoices; anvil's funded accounts pay them with plain transfers. Each
// invoice must settle at the configured 2 confirmations and not before,
// with signed webhooks arriving; a payment whose block a reorganisation
// removes must stop counting and, mined again, credit once; and
// `cryptopay eth sweep` must move every paid amount to the receiving
// address and nowhere else, as the node's balances show.
//
// It runs on SQLite, and on PostgreSQL too when CRYPTOPAY_TEST_POSTGRES_URL
// is set.
func TestAnvilEndToEnd(t *testing.T) {
	anvil := os.Getenv(AnvilEnv)
	if anvil == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must install anvil (.ci/run) so this test runs", AnvilEnv)
		}
		t.Skipf("%s is not set: install the pinned anvil as .ci/run does (npm @foundry-rs/anvil-linux-amd64) and export its path", AnvilEnv)
	}
	if testing.Short() {
		t.Skip("starts anvil and builds the gateway")
	}
	bin := buildCryptopay(t)
	engines := []string{"sqlite"}
	if os.Getenv(testdb.PostgresEnv) != "" {
		engines = append(engines, "postgres")
	}
	for _, e := range engines {
		t.Run(e, func(t *testing.T) {
			dbURL := "" // SQLite in the data folder
			if e == "postgres" {
				dbURL = testdb.PostgresURL(t) // a fresh schema
			}
			runEndToEnd(t, anvil, bin, dbURL)
		})
	}
}

func runEndToEnd(t *testing.T, anvil, bin, dbURL string) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	n := startAnvil(t, ctx, anvil)

	// Contracts: the two test tokens from the committed artifacts, minted
	// to the payer. The factory is the operator's job, below.
	deployer, payer := n.accounts[0], n.accounts[1]
	usdc := n.deploy(testtoken.BoolToken.Bytecode, deployer)
	usdt := n.deploy(testtoken.NoBoolToken.Bytecode, deployer)
	for _, tok := range []common.Address{usdc, usdt} {
		n.sendMined(deployer, &tok, nil, pack(t, testtoken.BoolToken.ABI, "mint", payer, big.NewInt(1_000_000_000)))
	}
	gasKey, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	gasAddr := crypto.PubkeyToAddress(gasKey.PublicKey)
	n.sendMined(deployer, &gasAddr, ether("1"), nil)
	receiverKey, _ := crypto.GenerateKey()
	receiver := crypto.PubkeyToAddress(receiverKey.PublicKey) // a fresh store wallet: every wei it holds came from a sweep

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "gas.key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(crypto.FromECDSA(gasKey))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	env := map[string]string{
		"CRYPTOPAY_DATA_DIR":               dir,
		"CRYPTOPAY_DATABASE_URL":           dbURL,
		"CRYPTOPAY_LISTEN":                 listen,
		"CRYPTOPAY_EVM_RPC_URL":            n.url,
		"CRYPTOPAY_EVM_NETWORK":            "evm-dev",
		"CRYPTOPAY_EVM_TOKENS":             "USDC=" + usdc.Hex() + ",USDT=" + usdt.Hex(),
		"CRYPTOPAY_EVM_CONFIRMATIONS":      "2",
		"CRYPTOPAY_EVM_POLL_INTERVAL":      "100ms",
		"CRYPTOPAY_EVM_LEASE_TTL":          "2s",
		"CRYPTOPAY_EVM_GAS_KEY_FILE":       keyFile,
		"CRYPTOPAY_RATE_LIMIT_KEY":         "off",
		"CRYPTOPAY_RATE_LIMIT_IP":          "off",
		"CRYPTOPAY_WEBHOOK_ALLOW_LOOPBACK": "true",
	}
	if dbURL == "" {
		delete(env, "CRYPTOPAY_DATABASE_URL")
	}
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = environ(env)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("cryptopay %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
		}
		return out.String()
	}

	// The operator: factory, database, store, key.
	m := regexp.MustCompile(`CRYPTOPAY_EVM_FACTORY=(0x[0-9a-fA-F]{40})`).FindStringSubmatch(cli("eth", "deploy-factory", "--wait", "30s"))
	if m == nil {
		t.Fatal("eth deploy-factory printed no factory address")
	}
	env["CRYPTOPAY_EVM_FACTORY"] = m[1]
	if code, _ := n.ethClient().CodeAt(ctx, common.HexToAddress(m[1]), nil); len(code) == 0 {
		t.Fatalf("no code at the factory address %s the command printed", m[1])
	}
	cli("migrate")
	var store struct{ ID string }
	mustJSON(t, cli("stores", "create", "--name", "EVM shop", "--network", "evm-dev", "--account-key", strings.ToLower(receiver.Hex()), "--json"), &store)
	var key struct{ Secret string }
	mustJSON(t, cli("keys", "create", "--store", store.ID, "--scopes", "invoices:read,invoices:write,webhooks:read,webhooks:write", "--json"), &key)

	gw := startServe(t, ctx, bin, environ(env), listen)
	shop := client.New("http://"+listen, key.Secret)
	hooks := newReceiver(t)
	ep, err := shop.CreateWebhookEndpoint(ctx, client.WebhookEndpointParams{URL: hooks.srv.URL + "/hooks"})
	if err != nil {
		t.Fatal(err)
	}
	hooks.setSecret(ep.Secret)

	// The shop's invoices; the asset's own units, so no rate is involved.
	invoice := func(order, amount, asset string) *client.Invoice {
		t.Helper()
		inv, err := shop.CreateInvoice(ctx, client.InvoiceParams{OrderID: order, Amount: amount, Currency: asset, Network: "evm-dev", Asset: asset})
		if err != nil {
			t.Fatalf("create %s invoice: %v", asset, err)
		}
		if inv.RequiredConfirmations != 2 || !strings.Contains(inv.PaymentURI, fmt.Sprintf("@%d", chainID)) {
			t.Fatalf("%s invoice: required_confirmations %d, payment_uri %q", asset, inv.RequiredConfirmations, inv.PaymentURI)
		}
		return inv
	}
	get := func(id string) *client.Invoice {
		t.Helper()
		inv, err := shop.GetInvoice(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return inv
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\ngateway log tail:\n%s", what, gw.tail())
			}
			time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
		}
	}
	seenWith := func(id string, confs int64) func() bool {
		return func() bool {
			inv := get(id)
			return len(inv.Payments) == 1 && inv.Payments[0].Confirmations == confs
		}
	}

	ethInv := invoice("eth-1", "0.05", "ETH")
	usdcInv := invoice("usdc-1", "25.00", "USDC")
	usdtInv := invoice("usdt-1", "12.50", "USDT")
	tokenOf := map[string]common.Address{"USDC": usdc, "USDT": usdt}

	// Plain transfers from a funded account: one block each (anvil mines
	// a block per transaction), which is one confirmation of two.
	pays := []struct {
		inv   *client.Invoice
		units *big.Int
	}{
		{ethInv, ether("0.05")},
		{usdcInv, big.NewInt(25_000_000)},
		{usdtInv, big.NewInt(12_500_000)},
	}
	for _, p := range pays {
		to := common.HexToAddress(p.inv.Address)
		if p.inv.Asset == "ETH" {
			n.sendMined(payer, &to, p.units, nil)
		} else {
			tok := tokenOf[p.inv.Asset]
			n.sendMined(payer, &tok, nil, pack(t, testtoken.BoolToken.ABI, "transfer", to, p.units))
		}
	}
	// The last payment's block is the tip: it has one confirmation, the
	// others more. Mine until every one has two, checking none settles
	// before.
	last := usdtInv.ID
	waitFor("the USDT payment at 1 confirmation", seenWith(last, 1))
	if inv := get(last); inv.Status == "settled" {
		t.Fatalf("USDT invoice settled at 1 confirmation of 2: %+v", inv)
	}
	n.mine(1)
	for _, p := range pays {
		waitFor(p.inv.Asset+" invoice settled", func() bool { return get(p.inv.ID).Status == "settled" })
		inv := get(p.inv.ID)
		if !isZero(inv.AmountDue) || len(inv.Payments) != 1 || inv.Payments[0].Status != "confirmed" {
			t.Errorf("%s invoice after settling: due %s, payments %+v", p.inv.Asset, inv.AmountDue, inv.Payments)
		}
		waitFor(p.inv.Asset+" invoice.settled webhook", func() bool { return hooks.count(p.inv.ID, "invoice.settled") == 1 })
	}

	// A reorganisation removes a payment's block; the payment must stop
	// counting, then credit once when the same transaction is mined again.
	reorgInv := invoice("eth-reorg", "0.02", "ETH")
	snap := n.snapshot()
	to := common.HexToAddress(reorgInv.Address)
	raw := n.sign(payer, &to, ether("0.02"), nil)
	txHash := n.sendRaw(raw)
	waitFor("the payment to be seen at 1 confirmation", seenWith(reorgInv.ID, 1))
	n.revert(snap)
	n.mine(2) // a longer branch without the payment
	waitFor("the payment to leave the chain", func() bool {
		inv := get(reorgInv.ID)
		return len(inv.Payments) == 1 && inv.Payments[0].Status == "reorged"
	})
	// Counted (the customer did pay) but not confirmed: the invoice
	// waits, flagged, and cannot settle on it.
	// What must not happen has no moment to wait for: give the watcher
	// (polling every 100ms) ten polls over two more blocks, then look.
	n.mine(2)
	time.Sleep(time.Second)
	if inv := get(reorgInv.ID); inv.Status == "settled" || !slices.Contains(inv.Flags, "reorged") || inv.Payments[0].Confirmations != 0 {
		t.Fatalf("after the reorg: status %s, flags %v, payment %+v; want unsettled, flagged reorged, unconfirmed", inv.Status, inv.Flags, inv.Payments[0])
	}
	waitFor("payment.reorged webhook", func() bool { return hooks.count(reorgInv.ID, "payment.reorged") == 1 })
	if again := n.sendRaw(raw); again != txHash {
		t.Fatalf("re-sent transaction has hash %s, want %s", again, txHash)
	}
	n.mine(1)
	waitFor("the re-mined payment to settle the invoice", func() bool { return get(reorgInv.ID).Status == "settled" })
	inv := get(reorgInv.ID)
	if len(inv.Payments) != 1 || !strings.EqualFold(inv.Payments[0].TxID, txHash.Hex()) || !isZero(inv.AmountDue) {
		t.Fatalf("after re-mining: paid %s of %s, payments %+v; want the one transaction credited once", inv.AmountPaid, inv.CryptoAmount, inv.Payments)
	}
	waitFor("one invoice.settled webhook for the reorged invoice", func() bool { return hooks.count(reorgInv.ID, "invoice.settled") == 1 })

	// The operator sweeps: everything to the receiving address only.
	ec := n.ethClient()
	payerETH, _ := ec.BalanceAt(ctx, payer, nil)
	payerUSDC := tokenBalance(t, ec, usdc, payer)
	gasBefore, _ := ec.BalanceAt(ctx, gasAddr, nil)
	ids := []string{ethInv.ID, usdcInv.ID, usdtInv.ID, reorgInv.ID}
	out := cli(append([]string{"eth", "sweep", "--receiver", receiver.Hex(), "--token", usdc.Hex(), "--token", usdt.Hex(), "--wait", "30s"}, ids...)...)
	if !strings.Contains(out, "swept") {
		t.Errorf("eth sweep output names nothing swept:\n%s", out)
	}
	type balance struct {
		name  string
		token *common.Address // nil: ether
		who   common.Address
		want  *big.Int
	}
	checks := []balance{
		{"receiver ETH", nil, receiver, ether("0.07")},
		{"receiver USDC", &usdc, receiver, big.NewInt(25_000_000)},
		{"receiver USDT", &usdt, receiver, big.NewInt(12_500_000)},
		{"payer ETH unchanged", nil, payer, payerETH},
		{"payer USDC unchanged", &usdc, payer, payerUSDC},
	}
	for _, inv := range []*client.Invoice{ethInv, usdcInv, usdtInv, reorgInv} {
		a := common.HexToAddress(inv.Address)
		checks = append(checks, balance{inv.OrderID + " deposit ETH", nil, a, new(big.Int)},
			balance{inv.OrderID + " deposit USDC", &usdc, a, new(big.Int)},
			balance{inv.OrderID + " deposit USDT", &usdt, a, new(big.Int)})
	}
	for _, c := range checks {
		var got *big.Int
		if c.token == nil {
			got, _ = ec.BalanceAt(ctx, c.who, nil)
		} else {
			got = tokenBalance(t, ec, *c.token, c.who)
		}
		if got.Cmp(c.want) != 0 {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	if gasAfter, _ := ec.BalanceAt(ctx, gasAddr, nil); gasAfter.Cmp(gasBefore) >= 0 {
		t.Errorf("gas key balance %s after the sweep, %s before: it should only have paid fees", gasAfter, gasBefore)
	}
	for _, tok := range []common.Address{usdc, usdt} {
		if got := tokenBalance(t, ec, tok, gasAddr); got.Sign() != 0 {
			t.Errorf("gas key holds %s of token %s", got, tok)
		}
	}
	// Sweeping changes no invoice.
	for _, id := range ids {
		if inv := get(id); inv.Status != "settled" {
			t.Errorf("invoice %s is %s after the sweep", id, inv.Status)
		}
	}
	if bad := hooks.bad(); bad != 0 {
		t.Errorf("%d webhook deliveries failed signature verification", bad)
	}
}

// isZero reports whether a decimal amount of the API is zero.
func isZero(s string) bool {
	r, ok := new(big.Rat).SetString(s)
	return ok && r.Sign() == 0
}

// anvilNode is one anvil process and its JSON-RPC.
type anvilNode struct {
	t        *testing.T
	ctx      context.Context
	url      string
	rpc      *rpc.Client
	accounts []common.Address // anvil's funded, unlocked accounts
}

func startAnvil(t *testing.T, ctx context.Context, bin string) *anvilNode {
	t.Helper()
	addr := freeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	// Automine: each transaction gets its own block at once; evm_mine adds
	// empty ones. --silent keeps the test log to the gateway's.
	cmd := exec.Command(bin, "--host", host, "--port", port, "--chain-id", fmt.Sprint(chainID), "--accounts", "3", "--silent")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start anvil: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	n := &anvilNode{t: t, ctx: ctx, url: "http://" + addr}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := rpc.DialContext(ctx, n.url)
		if err == nil {
			var id hexutil.Uint64
			if err = c.CallContext(ctx, &id, "eth_chainId"); err == nil {
				if uint64(id) != chainID {
					t.Fatalf("anvil reports chain id %d, want %d", id, chainID)
				}
				n.rpc = c
				break
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("anvil did not answer within 15s: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(n.rpc.Close)
	n.call(&n.accounts, "eth_accounts")
	if len(n.accounts) < 2 {
		t.Fatalf("anvil has %d accounts", len(n.accounts))
	}
	return n
}

func (n *anvilNode) call(out any, method string, args ...any) {
	n.t.Helper()
	if err := n.rpc.CallContext(n.ctx, out, method, args...); err != nil {
		n.t.Fatalf("%s: %v", method, err)
	}
}

func (n *anvilNode) ethClient() *ethclient.Client { return ethclient.NewClient(n.rpc) }

type txArgs struct {
	From  common.Address  `json:"from"`
	To    *common.Address `json:"to,omitempty"`
	Value *hexutil.Big    `json:"value,omitempty"`
	Data  hexutil.Bytes   `json:"data,omitempty"`
	// Set for eth_signTransaction, which fills in nothing.
	Nonce                *hexutil.Uint64 `json:"nonce,omitempty"`
	Gas                  *hexutil.Uint64 `json:"gas,omitempty"`
	MaxFeePerGas         *hexutil.Big    `json:"maxFeePerGas,omitempty"`
	MaxPriorityFeePerGas *hexutil.Big    `json:"maxPriorityFeePerGas,omitempty"`
	ChainID              *hexutil.Big    `json:"chainId,omitempty"`
}

// sendMined sends a transaction from an unlocked account and waits for
// its receipt, which must be a success.
func (n *anvilNode) sendMined(from common.Address, to *common.Address, value *big.Int, data []byte) *types.Receipt {
	n.t.Helper()
	var h common.Hash
	n.call(&h, "eth_sendTransaction", txArgs{From: from, To: to, Value: (*hexutil.Big)(value), Data: data})
	return n.receipt(h)
}

func (n *anvilNode) receipt(h common.Hash) *types.Receipt {
	n.t.Helper()
	// Anvil mines each transaction at once, but its receipt can take a
	// moment to be served.
	deadline := time.Now().Add(10 * time.Second)
	r, err := n.ethClient().TransactionReceipt(n.ctx, h)
	for errors.Is(err, ethereum.NotFound) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		r, err = n.ethClient().TransactionReceipt(n.ctx, h)
	}
	if err != nil {
		n.t.Fatalf("receipt of %s: %v", h, err)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		n.t.Fatalf("transaction %s failed", h)
	}
	return r
}

func (n *anvilNode) deploy(code []byte, from common.Address) common.Address {
	n.t.Helper()
	return n.sendMined(from, nil, nil, code).ContractAddress
}

// sign has anvil sign a transaction of an unlocked account with every
// field fixed, so the same bytes can be sent again after a reorg.
func (n *anvilNode) sign(from common.Address, to *common.Address, value *big.Int, data []byte) hexutil.Bytes {
	n.t.Helper()
	var nonce hexutil.Uint64
	n.call(&nonce, "eth_getTransactionCount", from, "latest")
	gas := hexutil.Uint64(21_000)
	var raw hexutil.Bytes
	n.call(&raw, "eth_signTransaction", txArgs{From: from, To: to, Value: (*hexutil.Big)(value), Data: data, Nonce: &nonce, Gas: &gas,
		MaxFeePerGas: (*hexutil.Big)(big.NewInt(20e9)), MaxPriorityFeePerGas: (*hexutil.Big)(big.NewInt(1e9)), ChainID: (*hexutil.Big)(big.NewInt(chainID))})
	return raw
}

func (n *anvilNode) sendRaw(raw hexutil.Bytes) common.Hash {
	n.t.Helper()
	var h common.Hash
	n.call(&h, "eth_sendRawTransaction", raw)
	n.receipt(h)
	return h
}

func (n *anvilNode) mine(blocks int) {
	n.t.Helper()
	for range blocks {
		var ignored any
		n.call(&ignored, "evm_mine")
	}
}

func (n *anvilNode) snapshot() hexutil.Big {
	n.t.Helper()
	var id hexutil.Big
	n.call(&id, "evm_snapshot")
	return id
}

func (n *anvilNode) revert(id hexutil.Big) {
	n.t.Helper()
	var ok bool
	n.call(&ok, "evm_revert", &id)
	if !ok {
		n.t.Fatal("evm_revert refused the snapshot")
	}
}

func tokenBalance(t *testing.T, ec *ethclient.Client, token, who common.Address) *big.Int {
	t.Helper()
	out, err := ec.CallContract(context.Background(), ethereum.CallMsg{To: &token, Data: pack(t, testtoken.BoolToken.ABI, "balanceOf", who)}, nil)
	if err != nil || len(out) != 32 {
		t.Fatalf("balanceOf(%s) on %s: %v (%d bytes)", who, token, err, len(out))
	}
	return new(big.Int).SetBytes(out)
}

func pack(t *testing.T, abiJSON, method string, args ...any) []byte {
	t.Helper()
	a, err := abi.JSON(strings.NewReader(abiJSON))
	if err != nil {
		t.Fatal(err)
	}
	data, err := a.Pack(method, args...)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// ether parses a decimal amount of ether into wei.
func ether(s string) *big.Int {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)))
	if !r.IsInt() {
		panic(s)
	}
	return r.Num()
}

// receiver is the shop's webhook endpoint: it verifies each delivery's
// signature with the endpoint's secret and keeps the events it accepts.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	events []client.Event
	failed int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		secret := r.secret
		r.mu.Unlock()
		body, err := webhooksig.ReadAndVerify(req, secret, 1<<20)
		var ev client.Event
		if err == nil {
			err = json.Unmarshal(body, &ev)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.failed++
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if !slices.ContainsFunc(r.events, func(e client.Event) bool { return e.ID == ev.ID }) { // redeliveries are the same event
			r.events = append(r.events, ev)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = s
}

// count is how many distinct events of type typ about invoice id arrived.
func (r *receiver) count(id, typ string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := 0
	for _, e := range r.events {
		if e.Type != typ {
			continue
		}
		if d, err := e.InvoiceData(); err == nil && d.InvoiceID == id {
			c++
		}
	}
	return c
}

func (r *receiver) bad() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// gatewayProc is the running `cryptopay serve`, with its log kept for a
// failure's message.
type gatewayProc struct {
	mu  sync.Mutex
	log []string
}

func (g *gatewayProc) tail() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return strings.Join(g.log[max(0, len(g.log)-30):], "\n")
}

func startServe(t *testing.T, ctx context.Context, bin string, env []string, listen string) *gatewayProc {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &gatewayProc{}
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			g.mu.Lock()
			g.log = append(g.log, sc.Text())
			g.mu.Unlock()
		}
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	})
	// Ready means the EVM watcher has checked the node and its tokens.
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+listen+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g
			}
		}
		select {
		case <-exited:
			t.Fatalf("cryptopay serve exited:\n%s", g.tail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("cryptopay serve not ready within 30s:\n%s", g.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// buildCryptopay builds the command from the module root.
func buildCryptopay(t *testing.T) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "cryptopay")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/cryptopay")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// environ is this process's environment without any CRYPTOPAY_ setting,
// plus vars.
func environ(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CRYPTOPAY_") {
			env = append(env, kv)
		}
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v in %q", err, s)
	}
}
