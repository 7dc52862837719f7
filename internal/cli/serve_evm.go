package cli

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/rpc"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/config"
	"github.com/cryptopay/cryptopay/internal/evm/evmnet"
	"github.com/cryptopay/cryptopay/internal/evm/evmsource"
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
	n, err := cryptopay.ParseNetwork("CRYPTOPAY_EVM_NETWORK", c.Network)
	if err != nil {
		return chain, nil, false, fmt.Errorf("%s", cryptopay.ErrorMessage(err))
	}
	chain, found := evmnet.Default(n)
	if !found {
		return chain, nil, false, fmt.Errorf("CRYPTOPAY_EVM_NETWORK: %s is not an EVM network", n)
	}
	if c.ChainID != 0 {
		chain.ChainID = c.ChainID
	}
	if c.SafetyLimit != 0 {
		chain.ReorgLimit = c.SafetyLimit
	}
	tokens, err := evmnet.ParseTokens("CRYPTOPAY_EVM_TOKENS", c.Tokens)
	if err != nil {
		return chain, nil, false, err
	}
	if tokens != nil {
		chain.Tokens = tokens
	}
	if c.Finalized && !chain.Finalized {
		return chain, nil, false, fmt.Errorf("CRYPTOPAY_EVM_FINALIZED: %s has no finalized block tag", n)
	}
	policy, err := chain.Policy(c.Confirmations, c.Finalized)
	if err != nil {
		return chain, nil, false, fmt.Errorf("%s", cryptopay.ErrorMessage(err))
	}
	if err := policy.CheckReorgLimit(chain.ReorgLimit); err != nil {
		return chain, nil, false, fmt.Errorf("CRYPTOPAY_EVM_CONFIRMATIONS: %s", cryptopay.ErrorMessage(err))
	}
	d = &evmnet.Deposits{Chain: chain, Policy: policy}
	if c.Factory != "" {
		if d.Factory, err = evmnet.ParseAddress(c.Factory); err != nil {
			return chain, nil, false, fmt.Errorf("CRYPTOPAY_EVM_FACTORY: %w", err)
		}
	}
	return chain, d, true, nil
}

// evmDeposits returns the service's view of the configured EVM network.
func evmDeposits(c config.EVM) (map[cryptopay.Network]gateway.EVMChain, error) {
	chain, d, ok, err := evmChain(c)
	if err != nil || !ok {
		return nil, err
	}
	return map[cryptopay.Network]gateway.EVMChain{chain.Network: d}, nil
}

// evmWatcher builds the EVM chain watcher, or nil when no EVM node is
// configured. The node's chain id and the token contracts are checked
// before anything is credited from them.
func (a *app) evmWatcher(ctx context.Context) (*watcher.Watcher, error) {
	chain, _, ok, err := evmChain(a.cfg.EVM)
	if err != nil || !ok {
		return nil, err
	}
	client, err := rpc.DialContext(ctx, a.cfg.EVM.RPCURL)
	if err != nil {
		return nil, fmt.Errorf("EVM node at CRYPTOPAY_EVM_RPC_URL: %w", err)
	}
	src := evmsource.New(client, chain, a.cfg.EVM.Finalized)
	if err := src.Check(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("EVM node at CRYPTOPAY_EVM_RPC_URL: %w", err)
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
		PollInterval: a.cfg.EVM.PollInterval,
		SafetyLimit:  chain.ReorgLimit,
		LeaseTTL:     a.cfg.EVM.LeaseTTL,
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
func (a *app) checkEVMNode(ctx context.Context) (string, error) {
	chain, _, ok, err := evmChain(a.cfg.EVM)
	if err != nil || !ok {
		return "", err
	}
	client, err := rpc.DialContext(ctx, a.cfg.EVM.RPCURL)
	if err != nil {
		return "", err
	}
	defer client.Close()
	src := evmsource.New(client, chain, a.cfg.EVM.Finalized)
	if err := src.Check(ctx); err != nil {
		return "", err
	}
	tip, err := src.Tip(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s (chain id %d) at block %d; tokens %v; reorg limit %d", chain.Network, chain.ChainID, tip.Height, chain.Assets(), chain.ReorgLimit), nil
}
