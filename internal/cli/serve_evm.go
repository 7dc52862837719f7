package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/contracts"
	"github.com/cryptopay/cryptopay/internal/config"
	"github.com/cryptopay/cryptopay/internal/doctor"
	"github.com/cryptopay/cryptopay/internal/evm/evmnet"
	"github.com/cryptopay/cryptopay/internal/evm/evmsource"
	"github.com/cryptopay/cryptopay/internal/evm/forwarder"
	"github.com/cryptopay/cryptopay/internal/evm/sweep"
	"github.com/cryptopay/cryptopay/internal/evm/sweepbook"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/watcher"
)

// evmChain reads the configured EVM network's parameters: the registry's
// defaults with the CRYPTOPAY_EVM_* overrides applied. It touches no node;
// ok is false when no EVM network is configured.
func evmChain(c config.EVM) (chain evmnet.Chain, d *evmnet.Deposits, ok bool, err error) {
	if c.RPCURL == "" {
		return evmnet.Chain{}, nil, false, nil
	}
	n, err := cryptopay.ParseNetwork(c.Var("NETWORK"), c.Network)
	if err != nil {
		return chain, nil, false, fmt.Errorf("%s", cryptopay.ErrorMessage(err))
	}
	chain, found := evmnet.Default(n)
	if !found {
		return chain, nil, false, fmt.Errorf("%s: %s is not an EVM network", c.Var("NETWORK"), n)
	}
	if c.ChainID != 0 {
		chain.ChainID = c.ChainID
	}
	if c.SafetyLimit != 0 {
		chain.ReorgLimit = c.SafetyLimit
	}
	tokens, err := evmnet.ParseTokens(c.Var("TOKENS"), c.Tokens)
	if err != nil {
		return chain, nil, false, err
	}
	if tokens != nil {
		chain.Tokens = tokens
	}
	if c.Finalized && !chain.Finalized {
		return chain, nil, false, fmt.Errorf("%s: %s has no finalized block tag", c.Var("FINALIZED"), n)
	}
	policy, err := chain.Policy(c.Confirmations, c.Finalized)
	if err != nil {
		return chain, nil, false, fmt.Errorf("%s", cryptopay.ErrorMessage(err))
	}
	if err := policy.CheckReorgLimit(chain.ReorgLimit); err != nil {
		return chain, nil, false, fmt.Errorf("%s: %s", c.Var("CONFIRMATIONS"), cryptopay.ErrorMessage(err))
	}
	d = &evmnet.Deposits{Chain: chain, Policy: policy}
	if c.Factory != "" {
		if d.Factory, err = evmnet.ParseAddress(c.Factory); err != nil {
			return chain, nil, false, fmt.Errorf("%s: %w", c.Var("FACTORY"), err)
		}
	}
	return chain, d, true, nil
}

// evmDeposits returns the service's view of the configured EVM networks.
func evmDeposits(cfg *config.Config) (map[cryptopay.Network]gateway.EVMChain, error) {
	out := map[cryptopay.Network]gateway.EVMChain{}
	for _, c := range cfg.EVMNetworks() {
		chain, d, ok, err := evmChain(c)
		if err != nil {
			return nil, err
		}
		if ok {
			out[chain.Network] = d
		}
	}
	return out, nil
}

// evmWatcher builds the EVM chain watcher, or nil when no EVM node is
// configured. The node's chain id and the token contracts are checked
// before anything is credited from them.
func (a *app) evmWatcher(ctx context.Context, c config.EVM) (*watcher.Watcher, error) {
	chain, _, ok, err := evmChain(c)
	if err != nil || !ok {
		return nil, err
	}
	client, err := rpc.DialContext(ctx, c.RPCURL)
	if err != nil {
		return nil, fmt.Errorf("EVM node at %s: %w", c.Var("RPC_URL"), err)
	}
	src := evmsource.New(client, chain, c.Finalized)
	if err := src.Check(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("EVM node at %s: %w", c.Var("RPC_URL"), err)
	}
	rs, err := rates.ParseStatic(a.cfg.Rates)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("CRYPTOPAY_RATES: %w", err)
	}
	w := watcher.New(watcher.Config{
		DB:           a.db,
		Outbox:       a.outbox,
		Source:       src,
		Logger:       a.log,
		PollInterval: c.PollInterval,
		SafetyLimit:  chain.ReorgLimit,
		LeaseTTL:     c.LeaseTTL,
		Alert:        a.alert,
		Monitor:      a.cfg.Monitor,
		Rates:        rs,
	})
	a.svc.OnInvoiceCreated(func(inv *cryptopay.Invoice) {
		if inv.Network == chain.Network {
			w.Watch(inv.Address, inv.MonitorUntil)
		}
	})
	return w, nil
}

// checkEVMNode is doctor's EVM check: the configured node answers with the
// configured chain id and the token registry passes Check.
func (a *app) checkEVMNode(ctx context.Context, c config.EVM) (string, error) {
	chain, _, ok, err := evmChain(c)
	if err != nil || !ok {
		return "", err
	}
	client, err := rpc.DialContext(ctx, c.RPCURL)
	if err != nil {
		return "", err
	}
	defer client.Close()
	src := evmsource.New(client, chain, c.Finalized)
	if err := src.Check(ctx); err != nil {
		return "", err
	}
	tip, err := src.Tip(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s (chain id %d) at block %d; tokens %v; reorg limit %d", chain.Network, chain.ChainID, tip.Height, chain.Assets(), chain.ReorgLimit), nil
}

// evmSweeper builds the periodic sweeper of the configured EVM network, or
// nil when there is none to run: no EVM network, no gas key
// (CRYPTOPAY_EVM_GAS_KEY_FILE) or no period (CRYPTOPAY_EVM_SWEEP_INTERVAL).
// It runs on one instance at a time (the network's sweep lease, as the
// watchers lead), sweeps with the configured minimums and gas-price
// ceiling, and records what the balance check finds beyond the recorded
// payments as internal_transfer payments; it never changes invoice state.
func (a *app) evmSweeper(ctx context.Context, c config.EVM) (*sweepbook.Leader, error) {
	chain, d, ok, err := evmChain(c)
	if err != nil || !ok {
		return nil, err
	}
	sc, err := config.LoadEVMSweep(a.getenv)
	if err != nil {
		return nil, err
	}
	if sc.GasKeyFile == "" || sc.Interval == 0 {
		return nil, nil
	}
	if d.Factory == (common.Address{}) {
		return nil, fmt.Errorf("CRYPTOPAY_EVM_SWEEP_INTERVAL: sweeping %s needs the forwarder factory (%s)", c.Network, c.Var("FACTORY"))
	}
	key, err := sweep.LoadGasKey(sc.GasKeyFile)
	if err != nil {
		return nil, err
	}
	client, err := ethclient.DialContext(ctx, c.RPCURL)
	if err != nil {
		return nil, fmt.Errorf("EVM node at %s: %w", c.Var("RPC_URL"), err)
	}
	policy, err := sweepPolicy(d.Factory, chain, sc)
	if err != nil {
		client.Close()
		return nil, err
	}
	book := &sweepbook.Book{DB: a.db, Svc: a.svc, Chain: chain, Factory: d.Factory, Grace: 2 * sc.Interval, Log: a.log}
	s, err := sweep.New(client, key, policy, book, a.log)
	if err != nil {
		client.Close()
		return nil, err
	}
	return &sweepbook.Leader{Book: book, Sweeper: s, Instance: sweeperInstance(), TTL: c.LeaseTTL,
		Interval: sc.Interval, Poll: c.PollInterval}, nil
}

// sweepPolicy is the sweeper's policy from the settings: the chain's tokens
// with the token minimum in each one's decimals.
func sweepPolicy(factory common.Address, chain evmnet.Chain, sc config.EVMSweep) (sweep.Config, error) {
	p := sweep.Config{Factory: factory, MinWei: sc.MinWei, MaxGasPrice: sc.MaxGasPrice, BatchSize: sc.BatchSize}
	for _, t := range chain.Tokens {
		min, err := cryptopay.ParseAmount("CRYPTOPAY_EVM_SWEEP_MIN_TOKEN", sc.MinToken, t.Decimals)
		if err != nil {
			return p, fmt.Errorf("%s", cryptopay.ErrorMessage(err))
		}
		p.Tokens = append(p.Tokens, sweep.Token{Symbol: t.Asset, Address: t.Contract, Min: min})
	}
	return p, nil
}

// sweeperInstance names this process as a holder of the sweep lease.
func sweeperInstance() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/sweeper", host, os.Getpid())
}

// checkEVMSweep is doctor's sweep check: the factory's code (and the
// Forwarder logic it creates) on the node, and the gas key's balance
// against the warning threshold.
func (a *app) checkEVMSweep(ctx context.Context, c config.EVM) (doctor.EVMSweepFacts, error) {
	var f doctor.EVMSweepFacts
	_, d, ok, err := evmChain(c)
	if err != nil || !ok {
		return f, err
	}
	sc, err := config.LoadEVMSweep(a.getenv)
	if err != nil {
		return f, err
	}
	f.Factory, f.MinBalance, f.Interval, f.Asset = d.Factory.Hex(), sc.MinGasBalanceOr(), sc.Interval, d.Chain.Network.NativeAsset()
	client, err := ethclient.DialContext(ctx, c.RPCURL)
	if err != nil {
		return f, err
	}
	defer client.Close()
	code, err := client.CodeAt(ctx, d.Factory, nil)
	if err != nil {
		return f, fmt.Errorf("code at %s: %w", d.Factory, err)
	}
	impl, err := client.CodeAt(ctx, forwarder.Implementation(d.Factory), nil)
	if err != nil {
		return f, fmt.Errorf("code at %s: %w", forwarder.Implementation(d.Factory), err)
	}
	// The factory's runtime differs from the compiled one only in its
	// immutable (the Forwarder's address), so its length must match.
	f.FactoryDeployed = len(code) == len(contracts.ForwarderFactory.DeployedBytecode) && len(impl) > 0
	if sc.GasKeyFile == "" {
		return f, nil
	}
	key, err := sweep.LoadGasKey(sc.GasKeyFile)
	if err != nil {
		return f, err
	}
	addr := crypto.PubkeyToAddress(key.PublicKey)
	f.GasKeySet, f.GasAddress = true, addr.Hex()
	if f.GasBalance, err = client.BalanceAt(ctx, addr, nil); err != nil {
		return f, fmt.Errorf("balance of %s: %w", addr, err)
	}
	return f, nil
}

// evmWatchers builds one watcher per configured EVM network.
func (a *app) evmWatchers(ctx context.Context) ([]*watcher.Watcher, error) {
	var out []*watcher.Watcher
	for _, c := range a.cfg.EVMNetworks() {
		w, err := a.evmWatcher(ctx, c)
		if err != nil {
			return nil, err
		}
		if w != nil {
			out = append(out, w)
		}
	}
	return out, nil
}

// evmSweepers builds the periodic sweeper of each configured EVM network
// that has one to run (see evmSweeper).
func (a *app) evmSweepers(ctx context.Context) ([]*sweepbook.Leader, error) {
	var out []*sweepbook.Leader
	for _, c := range a.cfg.EVMNetworks() {
		l, err := a.evmSweeper(ctx, c)
		if err != nil {
			return nil, err
		}
		if l != nil {
			out = append(out, l)
		}
	}
	return out, nil
}

// checkEVMNodes is doctor's EVM check over every configured network.
func (a *app) checkEVMNodes(ctx context.Context) (string, error) {
	var details []string
	for _, c := range a.cfg.EVMNetworks() {
		d, err := a.checkEVMNode(ctx, c)
		if err != nil {
			return "", fmt.Errorf("%s: %w", c.Network, err)
		}
		details = append(details, d)
	}
	return strings.Join(details, "; "), nil
}

// checkEVMSweeps is doctor's sweep check over every configured network.
func (a *app) checkEVMSweeps(ctx context.Context) ([]doctor.EVMSweepFacts, error) {
	var out []doctor.EVMSweepFacts
	for _, c := range a.cfg.EVMNetworks() {
		f, err := a.checkEVMSweep(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Network, err)
		}
		out = append(out, f)
	}
	return out, nil
}
