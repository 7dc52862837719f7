package cli

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
	"github.com/cryptopay/cryptopay/internal/devnet"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// The sandbox keeps everything in its own folder so that it never touches
// the database `serve` uses (./cryptopay-data by default).
const (
	devDefaultDir   = "./cryptopay-dev"
	devDBFile       = "cryptopay.db"     // the default name, so CRYPTOPAY_DATA_DIR alone finds it
	devOldDBFile    = "cryptopay-dev.db" // what earlier sandboxes called it; removed at start
	devNodesDir     = "nodes"
	devDefaultRates = "BTC_USD=65000.00,BTC_EUR=60000.00,ETH_USD=3000.00,ETH_EUR=2750.00,USDC_USD=1.00,USDC_EUR=0.92,USDT_USD=1.00,USDT_EUR=0.92"
	devSampleAmount = "0.0015" // BTC; about 97.50 USD at the default rate: 3 confirmations
	devSampleUSDC   = "25.00"  // USDC on the EVM dev chain: 1 block at the evm-dev tiers
	devEVMPoll      = "500ms"  // the EVM watcher's default poll in the sandbox (CRYPTOPAY_EVM_POLL_INTERVAL)
	devReadyTimeout = 60 * time.Second
)

// runDev is `cryptopay dev`: with no argument it runs the sandbox in the
// foreground; `dev pay|mine|reorg` drive a running one.
func runDev(ctx context.Context, env Env, args []string) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") && !isHelp(args[0]) {
		switch args[0] {
		case "pay":
			return devPay(ctx, env, args[1:])
		case "mine":
			return devMine(ctx, env, args[1:])
		case "reorg":
			return devReorg(ctx, env, args[1:])
		}
		return usageError{fmt.Sprintf("unknown dev command %q (want pay, mine or reorg, or nothing to start the sandbox)", args[0])}
	}
	fs := flags(env, "dev")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage:
  cryptopay dev                      run the sandbox: gateway, regtest nodes, EVM dev chain, dev wallets (Ctrl-C stops all)
  cryptopay dev pay <invoice_id> [--amount AMOUNT] [--rbf] [--double-spend] [--confirm N]
  cryptopay dev mine N [--evm]       mine N blocks (--evm: on the EVM dev chain)
  cryptopay dev reorg N              replace the last N blocks with N+1 new ones
`)
	}
	if len(args) > 0 && isHelp(args[0]) {
		args = []string{"--help"}
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	err := runSandbox(ctx, env)
	if err != nil && ctx.Err() != nil {
		// Ctrl-C while starting: whatever failed failed because of it,
		// and everything started has been stopped.
		fmt.Fprintln(env.Stderr, "cryptopay dev: interrupted while starting; stopped")
		return nil
	}
	return err
}

// devDir is the sandbox's data folder.
func devDir(env Env) string { return cmp.Or(env.Getenv("CRYPTOPAY_DATA_DIR"), devDefaultDir) }

// runSandbox starts the nodes, a fresh gateway database, a store on the
// dev wallet's account key and a test key; serves the API and the control
// endpoint until ctx ends; then stops everything it started.
func runSandbox(ctx context.Context, env Env) (err error) {
	start := time.Now()
	dir := devDir(env)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if st, err := devnet.ReadState(dir); err == nil {
		if controlAlive(ctx, st) {
			return fmt.Errorf("a sandbox is already running in %s (pid %d); stop it first, or use another CRYPTOPAY_DATA_DIR", dir, st.PID)
		}
	}
	// Absent, unreadable or left by a sandbox that did not stop cleanly.
	if err := devnet.RemoveState(dir); err != nil {
		return err
	}
	seed, err := devnet.LoadSeed(dir)
	if err != nil {
		return err
	}
	// A fresh chain needs a fresh database: a chain cursor stored for the
	// previous run's chain would look like a deep reorganisation.
	for _, name := range []string{devNodesDir, devDBFile, devDBFile + "-wal", devDBFile + "-shm", devOldDBFile, devOldDBFile + "-wal", devOldDBFile + "-shm"} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	btcd := env.Getenv(regtest.BtcdPathEnv)
	if btcd == "" {
		fmt.Fprintln(env.Stderr, "locating btcd (go tool -n btcd; the first run builds it)...")
		if btcd, err = regtest.BtcdPath(ctx); err != nil {
			return fmt.Errorf("%w\n(run from inside the cryptopay module, or set %s to a btcd binary)", err, regtest.BtcdPathEnv)
		}
	}
	fmt.Fprintf(env.Stderr, "starting two btcd regtest nodes and mining %d blocks to the dev wallet...\n", devnet.DefaultFundBlocks)
	chain, err := devnet.Start(ctx, devnet.Options{Dir: filepath.Join(dir, devNodesDir), BtcdPath: btcd, Seed: seed})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, chain.Stop()) }()
	// The EVM dev chain runs in this process: nothing to install.
	evm, err := devnet.StartEVM(ctx, devnet.EVMOptions{Seed: seed})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, evm.Stop()) }()

	a, err := openCreating(ctx, Env{Getenv: devGetenv(env.Getenv, dir, chain.Main().RPCURL(), chain.Main().RPCUser(), chain.Main().RPCPassword(), chain.Main().WebsocketURL(), evm), Stdout: env.Stdout, Stderr: env.Stderr})
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := a.db.Migrate(ctx); err != nil {
		return err
	}
	store, err := a.svc.CreateStore(ctx, gateway.StoreParams{
		Name: "Dev shop",
		Wallets: []gateway.WalletParams{
			{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: chain.AccountKey()},
			// The receiving address derived from the seed: sweeps would
			// send the EVM invoices' money there.
			{Network: string(cryptopay.NetworkEVMDev), AccountKey: evm.Receiver().Hex()},
		},
	})
	if err != nil {
		return fmt.Errorf("create the dev store: %w", err)
	}
	scopes := make([]string, len(cryptopay.AllScopes))
	for i, s := range cryptopay.AllScopes {
		scopes[i] = string(s)
	}
	key, err := a.svc.CreateKey(ctx, gateway.KeyParams{StoreID: store.ID, Name: "dev sandbox", Scopes: scopes})
	if err != nil {
		return fmt.Errorf("create the dev key: %w", err)
	}

	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("CRYPTOPAY_LISTEN: %w", err)
	}
	ctl, err := startControl(a, chain, evm, store.ID)
	if err != nil {
		ln.Close()
		return err
	}
	defer ctl.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- a.serve(ctx, ln) }()
	// From here on, leave through stop so the server has drained before
	// the deferred closes run.
	stop := func(err error) error {
		cancel()
		if serr := <-served; serr != nil && !errors.Is(serr, context.Canceled) {
			err = errors.Join(err, serr)
		}
		return errors.Join(err, devnet.RemoveState(dir))
	}
	base := "http://" + ln.Addr().String()
	if err := waitReady(ctx, base, served); err != nil {
		if ctx.Err() != nil {
			return stop(nil) // interrupted while starting: a clean stop
		}
		return stop(err)
	}
	// After readiness: the watcher is subscribed to new invoices.
	sample, err := a.svc.CreateInvoice(ctx, key.Key, gateway.InvoiceParams{OrderID: "sample-1", Amount: devSampleAmount, Currency: "BTC"})
	if err != nil {
		return stop(fmt.Errorf("create the sample invoice: %w", err))
	}
	sampleEVM, err := a.svc.CreateInvoice(ctx, key.Key, gateway.InvoiceParams{OrderID: "sample-usdc-1", Amount: devSampleUSDC, Currency: "USDC",
		Network: string(cryptopay.NetworkEVMDev), Asset: "USDC"})
	if err != nil {
		return stop(fmt.Errorf("create the sample USDC invoice: %w", err))
	}
	usdc, _ := evm.Token("USDC")
	usdt, _ := evm.Token("USDT")
	state := devnet.State{PID: os.Getpid(), Control: ctl.url, ControlToken: ctl.token, API: base, Nodes: chain.NodeStates(),
		EVM: &devnet.EVMState{RPCURL: evm.RPCURL(), ChainID: devnet.EVMChainID, Factory: evm.Factory().Hex(), USDC: usdc.Hex(), USDT: usdt.Hex(),
			Wallet: evm.Wallet().Hex(), Receiver: evm.Receiver().Hex()}}
	if err := devnet.WriteState(dir, state); err != nil {
		return stop(err)
	}
	balance, _ := chain.Balance(ctx)
	height, _ := chain.Height(ctx)
	printBanner(env.Stdout, banner{
		elapsed: time.Since(start), dir: dir, base: base, store: store, secret: key.Secret,
		sample: sample, balance: balance, height: height, evm: state.EVM, sampleEVM: sampleEVM,
	})
	<-ctx.Done()
	return stop(nil)
}

// devGetenv is the configuration the sandbox's gateway runs with: the
// developer's environment for everything harmless (listen address, log
// level, rates, limits), but always the sandbox's own database and node,
// no configuration file, and none of the production edge (TLS, ACME,
// Redis, alert webhook), so a sandbox can never reach real data or send a
// real alert.
//
// The EVM settings are the sandbox's chain's (evm, or none when nil) so a
// developer's real node, gas key or factory is never used.
func devGetenv(getenv func(string) string, dir, rpcURL, rpcUser, rpcPassword, wsURL string, evm *devnet.EVMNet) func(string) string {
	forced := map[string]string{
		"CRYPTOPAY_CONFIG_FILE":             "",
		"CRYPTOPAY_DATA_DIR":                dir,
		"CRYPTOPAY_DATABASE_URL":            filepath.Join(dir, devDBFile),
		"CRYPTOPAY_BITCOIN_NETWORK":         string(cryptopay.NetworkBitcoinRegtest),
		"CRYPTOPAY_BITCOIN_RPC_URL":         rpcURL,
		"CRYPTOPAY_BITCOIN_RPC_USER":        rpcUser,
		"CRYPTOPAY_BITCOIN_RPC_PASSWORD":    rpcPassword,
		"CRYPTOPAY_BITCOIN_RPC_COOKIE_FILE": "",
		"CRYPTOPAY_BITCOIN_WEBSOCKET_URL":   wsURL,
		"CRYPTOPAY_TLS_CERT_FILE":           "",
		"CRYPTOPAY_TLS_KEY_FILE":            "",
		"CRYPTOPAY_ACME_DOMAINS":            "",
		"CRYPTOPAY_HTTP_REDIRECT_LISTEN":    "",
		"CRYPTOPAY_REDIS_URL":               "",
		"CRYPTOPAY_ALERT_WEBHOOK_URL":       "",
		// The sandbox's shop listens on this machine.
		"CRYPTOPAY_WEBHOOK_ALLOW_LOOPBACK": "true",
		// The EVM dev chain with its registry defaults (chain id 1337, the
		// evm-dev tiers), never a gas key: the sandbox does not sweep, and
		// no further networks (CRYPTOPAY_EVM_NETWORKS would add real ones).
		"CRYPTOPAY_EVM_NETWORKS":       "",
		"CRYPTOPAY_EVM_RPC_URL":        "",
		"CRYPTOPAY_EVM_NETWORK":        "",
		"CRYPTOPAY_EVM_CHAIN_ID":       "",
		"CRYPTOPAY_EVM_FACTORY":        "",
		"CRYPTOPAY_EVM_TOKENS":         "",
		"CRYPTOPAY_EVM_CONFIRMATIONS":  "",
		"CRYPTOPAY_EVM_FINALIZED":      "",
		"CRYPTOPAY_EVM_REORG_LIMIT":    "",
		"CRYPTOPAY_EVM_GAS_KEY_FILE":   "",
		"CRYPTOPAY_EVM_SWEEP_INTERVAL": "",
	}
	if evm != nil {
		forced["CRYPTOPAY_EVM_RPC_URL"] = evm.RPCURL()
		forced["CRYPTOPAY_EVM_NETWORK"] = string(cryptopay.NetworkEVMDev)
		forced["CRYPTOPAY_EVM_FACTORY"] = evm.Factory().Hex()
		forced["CRYPTOPAY_EVM_TOKENS"] = evm.TokensSpec()
	}
	return func(k string) string {
		if v, ok := forced[k]; ok {
			return v
		}
		switch k {
		case "CRYPTOPAY_RATES":
			return cmp.Or(getenv(k), devDefaultRates)
		case "CRYPTOPAY_EVM_POLL_INTERVAL":
			return cmp.Or(getenv(k), devEVMPoll)
		}
		return getenv(k)
	}
}

// waitReady polls /readyz (at most 5 a second, within the per-address
// rate limit) until the gateway and its chain watcher are ready.
func waitReady(ctx context.Context, base string, served <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, devReadyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case err := <-served:
			return fmt.Errorf("gateway stopped while starting: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("gateway not ready after %s: %s", devReadyTimeout, last)
		case <-t.C:
		}
	}
}

type banner struct {
	elapsed         time.Duration
	dir, base       string
	store           *cryptopay.Store
	secret          string
	sample          *cryptopay.Invoice
	balance, height int64
	evm             *devnet.EVMState
	sampleEVM       *cryptopay.Invoice
}

// printBanner tells the developer everything needed to start: the key
// (shown only here), commands to paste, and the sample invoice's page.
func printBanner(w io.Writer, b banner) {
	self := devSelf()
	auth := `-H "Authorization: Bearer $CRYPTOPAY_API_KEY"`
	fmt.Fprintf(w, `
CryptoPay sandbox ready in %.1fs (Bitcoin regtest and an EVM dev chain; Ctrl-C stops everything)

  data folder  %s  (fresh database and chain at every start)
  API          %s
  store        %s  (test mode; its account key belongs to the dev wallet)
  API key      %s  (all scopes; a new key at every start, shown only here)
  dev wallet   %s BTC spendable, chain height %d

# In another terminal, these make the API examples and the operator CLI
# (cryptopay invoices|stores|keys|webhooks ...) use this sandbox:
%s
# Create an invoice:
curl -s %s/v1/invoices %s -H "Content-Type: application/json" -H "Idempotency-Key: order-1001" -d '{"order_id":"1001","amount":"0.0015","currency":"BTC"}'

# The sample invoice %s (%s BTC to %s):
curl -s %s/v1/invoices/%s %s
curl -s "%s/v1/events?invoice=%s" %s
checkout page: %s/pay/%s

# Pay it from the dev wallet and mine 3 blocks (it needs %d confirmations to settle):
%s dev pay %s --confirm 3
# Also: --amount BTC, --rbf, --double-spend; %s dev mine N; %s dev reorg N

`,
		b.elapsed.Seconds(), b.dir, b.base, b.store.ID, b.secret,
		cryptopay.FormatAmount(big.NewInt(b.balance), 8), b.height, devExports(b.dir, b.secret),
		b.base, auth,
		b.sample.ID, cryptopay.FormatAmount(b.sample.CryptoDue, 8), b.sample.Address,
		b.base, b.sample.ID, auth,
		b.base, b.sample.ID, auth,
		b.base, b.sample.ID,
		b.sample.RequiredConfirmations,
		self, b.sample.ID, self, self)
	if b.evm == nil || b.sampleEVM == nil {
		return
	}
	fmt.Fprintf(w, `EVM dev chain (in this process; a block every %s, and on demand)
  JSON-RPC     %s  (chain id %d, network %s)
  factory      %s
  test tokens  USDC %s, USDT %s
  dev wallet   %s  (10,000 ETH, 1,000,000 USDC and USDT)
  receiving    %s  (the store's EVM wallet)

# Create a USDC invoice on the EVM dev chain (or "asset":"ETH", "USDT"):
curl -s %s/v1/invoices %s -H "Content-Type: application/json" -H "Idempotency-Key: order-1002" -d '{"order_id":"1002","amount":"25.00","currency":"USD","network":"evm-dev","asset":"USDC"}'

# The sample USDC invoice %s (%s USDC to %s); pay it with a plain token transfer and seal %d block(s):
%s dev pay %s --confirm %d
# Also: --amount USDC; %s dev mine N --evm

`,
		devnet.DefaultEVMBlockInterval, b.evm.RPCURL, b.evm.ChainID, cryptopay.NetworkEVMDev, b.evm.Factory, b.evm.USDC, b.evm.USDT,
		b.evm.Wallet, b.evm.Receiver,
		b.base, auth,
		b.sampleEVM.ID, cryptopay.FormatAmount(b.sampleEVM.CryptoDue, 6), b.sampleEVM.Address, b.sampleEVM.RequiredConfirmations,
		self, b.sampleEVM.ID, max(1, b.sampleEVM.RequiredConfirmations), self)
}

// devExports are the shell lines that point the API examples and the
// operator CLI at the sandbox: its key, and its database by absolute path
// (a relative CRYPTOPAY_DATA_DIR would find another file, or create a
// stray one, from any other folder).
func devExports(dir, secret string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return fmt.Sprintf("export CRYPTOPAY_API_KEY=%s\nexport CRYPTOPAY_DATA_DIR=%s\nexport CRYPTOPAY_DATABASE_URL=%s\n",
		secret, shellQuote(abs), shellQuote(filepath.Join(abs, devDBFile)))
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// characters that are safe bare.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+,:=@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// devSelf is how the developer invoked this binary, for commands to paste:
// `go run ./cmd/cryptopay` when it was built by go run.
func devSelf() string {
	exe := os.Args[0]
	if strings.Contains(filepath.ToSlash(exe), "/go-build") {
		return "go run ./cmd/cryptopay"
	}
	if filepath.IsAbs(exe) || strings.Contains(exe, string(filepath.Separator)) {
		return exe
	}
	return "cryptopay"
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
