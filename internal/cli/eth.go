package cli

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/config"
	"github.com/cryptopay/cryptopay/internal/evm/forwarder"
	"github.com/cryptopay/cryptopay/internal/evm/sweep"
)

// runEth holds the EVM operator commands.
func runEth(ctx context.Context, env Env, args []string) error {
	return subcommands{name: "eth", verbs: []verb{{"sweep", ethSweep}, {"deploy-factory", ethDeployFactory}}}.run(ctx, env, args)
}

// addressList is a repeatable flag of EVM addresses.
type addressList []common.Address

func (l *addressList) String() string { return fmt.Sprint(*l) }
func (l *addressList) Set(s string) error {
	if !common.IsHexAddress(s) {
		return fmt.Errorf("%q is not a 0x-prefixed 20-byte hex address", s)
	}
	*l = append(*l, common.HexToAddress(s))
	return nil
}

// ethSweep sweeps the named invoices' deposit addresses once, with the gas
// key, and waits for the transactions. It never changes invoice state. The
// node and factory come from CRYPTOPAY_EVM_RPC_URL and CRYPTOPAY_EVM_FACTORY;
// the key and policy from the CRYPTOPAY_EVM_SWEEP_* settings.
func ethSweep(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "eth sweep")
	var receiver, tokens addressList
	fs.Var(&receiver, "receiver", "the store's receiving address the deposit addresses were computed with (required)")
	fs.Var(&tokens, "token", "an ERC-20 token contract to flush as well (repeatable)")
	wait := fs.Duration("wait", 10*time.Minute, "how long to wait for the sweep transactions to be mined")
	network := fs.String("network", "", "the EVM network (default: CRYPTOPAY_EVM_NETWORK's; others as listed in CRYPTOPAY_EVM_NETWORKS)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: cryptopay eth sweep [--network NAME] --receiver 0x… [--token 0x…]… INVOICE_ID…")
		fs.PrintDefaults()
	}
	if err := parseQuiet(fs, args); err != nil {
		return parseErr(err)
	}
	if len(receiver) != 1 {
		return usageError{"--receiver is required, once"}
	}
	ids := fs.Args()
	if len(ids) == 0 {
		return usageError{"name at least one invoice id"}
	}
	evm, err := config.LoadEVM(env.Getenv, *network)
	if err != nil {
		return err
	}
	if !common.IsHexAddress(evm.Factory) {
		return fmt.Errorf("%s: want the ForwarderFactory's 0x address, have %q", evm.Var("FACTORY"), evm.Factory)
	}
	factory := evm.Factory
	cfg, key, client, err := openGasKeyNode(ctx, env, *network)
	if err != nil {
		return err
	}
	defer client.Close()

	policy := sweep.Config{Factory: common.HexToAddress(factory), MinWei: cfg.MinWei, MaxGasPrice: cfg.MaxGasPrice, BatchSize: cfg.BatchSize}
	for _, t := range tokens {
		decimals, err := tokenDecimals(ctx, client, t)
		if err != nil {
			return fmt.Errorf("token %s: %w", t, err)
		}
		min, err := cryptopay.ParseAmount("CRYPTOPAY_EVM_SWEEP_MIN_TOKEN", cfg.MinToken, decimals)
		if err != nil {
			return err
		}
		policy.Tokens = append(policy.Tokens, sweep.Token{Symbol: t.Hex(), Address: t, Min: min})
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, nil))
	s, err := sweep.New(client, key, policy, printedFindings{env}, log)
	if err != nil {
		return err
	}
	targets := make([]sweep.Target, len(ids))
	for i, id := range ids {
		targets[i] = sweep.Target{InvoiceID: id, Receiver: receiver[0]}
	}
	res, sweepErr := s.Sweep(ctx, targets)
	if res.Deferred {
		return fmt.Errorf("gas price %s wei is above the ceiling %s wei (CRYPTOPAY_EVM_SWEEP_MAX_GAS_PRICE); nothing sent", res.GasPrice, cfg.MaxGasPrice)
	}
	for _, sk := range res.Skipped {
		fmt.Fprintf(env.Stdout, "skipped %s %s: %s\n", sk.InvoiceID, sk.Address, sk.Reason)
	}
	waitCtx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	var errs []error
	for _, b := range res.Batches {
		r, err := sweep.Wait(waitCtx, client, b.Tx, 2*time.Second)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if r.Status != 1 {
			errs = append(errs, fmt.Errorf("sweep %s reverted in block %s", b.Tx.Hash(), r.BlockNumber))
			continue
		}
		fmt.Fprintf(env.Stdout, "tx %s block %s gas %d\n", b.Tx.Hash(), r.BlockNumber, r.GasUsed)
		for _, f := range sweep.FlushedIn(r) {
			asset := "ETH"
			if f.Asset != sweep.Ether {
				asset = f.Asset.Hex()
			}
			fmt.Fprintf(env.Stdout, "  swept %s %s from %s\n", f.Amount, asset, f.Address)
		}
	}
	return errors.Join(append([]error{sweepErr}, errs...)...)
}

// printedFindings reports what a manual sweep finds at each address. The
// command knows no recorded payments, so every balance counts as found; it
// prints them, in base units, before anything moves.
type printedFindings struct{ env Env }

func (p printedFindings) RecordExcess(_ context.Context, e sweep.Excess) error {
	asset := "ETH"
	if e.Asset != sweep.Ether {
		asset = e.Asset.Hex()
	}
	fmt.Fprintf(p.env.Stdout, "found %s %s at %s (%s) in block %d\n", e.Found, asset, e.Address, e.InvoiceID, e.BlockNumber)
	return nil
}

// tokenDecimals asks a token contract for decimals().
func tokenDecimals(ctx context.Context, c *ethclient.Client, token common.Address) (int, error) {
	out, err := c.CallContract(ctx, ethereum.CallMsg{To: &token, Data: common.FromHex("0x313ce567")}, nil)
	if err != nil {
		return 0, fmt.Errorf("decimals(): %w", err)
	}
	if len(out) != 32 {
		return 0, fmt.Errorf("decimals() returned %d bytes; not an ERC-20 contract", len(out))
	}
	d := new(big.Int).SetBytes(out)
	if d.Cmp(big.NewInt(36)) > 0 {
		return 0, fmt.Errorf("decimals() = %s, implausible", d)
	}
	return int(d.Int64()), nil
}

// ethDeployFactory deploys a ForwarderFactory on the node at
// CRYPTOPAY_EVM_RPC_URL, paid by the gas key, and prints its address for
// CRYPTOPAY_EVM_FACTORY.
func ethDeployFactory(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "eth deploy-factory")
	wait := fs.Duration("wait", 10*time.Minute, "how long to wait for the deployment to be mined")
	network := fs.String("network", "", "the EVM network (default: CRYPTOPAY_EVM_NETWORK's; others as listed in CRYPTOPAY_EVM_NETWORKS)")
	if err := parse(fs, args); err != nil {
		return err
	}
	evm, err := config.LoadEVM(env.Getenv, *network)
	if err != nil {
		return err
	}
	_, key, client, err := openGasKeyNode(ctx, env, *network)
	if err != nil {
		return err
	}
	defer client.Close()
	addr, tx, err := forwarder.DeployFactory(ctx, client, key)
	if err != nil {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	r, err := sweep.Wait(waitCtx, client, tx, 2*time.Second)
	if err != nil {
		return err
	}
	if r.Status != 1 || r.ContractAddress != addr {
		return fmt.Errorf("factory deployment %s failed in block %s", tx.Hash(), r.BlockNumber)
	}
	fmt.Fprintf(env.Stdout, "%s=%s\n# tx %s block %s gas %d\n", evm.Var("FACTORY"), addr, tx.Hash(), r.BlockNumber, r.GasUsed)
	return nil
}

// openGasKeyNode reads what every operator EVM command needs, through
// internal/config as serve does (so a config file counts): the sweep
// settings, the gas key (from its 0600 file) and a connection to
// CRYPTOPAY_EVM_RPC_URL, which the caller closes.
func openGasKeyNode(ctx context.Context, env Env, network string) (config.EVMSweep, *ecdsa.PrivateKey, *ethclient.Client, error) {
	evm, err := config.LoadEVM(env.Getenv, network)
	if err != nil {
		return config.EVMSweep{}, nil, nil, err
	}
	rpcURL := evm.RPCURL
	if rpcURL == "" {
		return config.EVMSweep{}, nil, nil, fmt.Errorf("%s is not set", evm.Var("RPC_URL"))
	}
	cfg, err := config.LoadEVMSweep(env.Getenv)
	if err != nil {
		return cfg, nil, nil, err
	}
	key, err := sweep.LoadGasKey(cfg.GasKeyFile)
	if err != nil {
		return cfg, nil, nil, err
	}
	client, err := ethclient.DialContext(ctx, rpcURL)
	if err != nil {
		return cfg, nil, nil, fmt.Errorf("EVM node: %w", err)
	}
	return cfg, key, client, nil
}
