package doctor

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
)

// checkEVM: with an EVM node configured, the node answers, serves the
// configured chain id, and every registered token contract reports the
// decimals its asset's amounts carry without a transfer fee (Input.EVM,
// which the command line runs against the node); the forwarder factory
// is set, else no EVM invoice can get a deposit address. Tiers above the
// reorg limit are refused when the configuration is loaded, before any
// check runs. The factory's code and the gas key are checkEVMSweep's.
func checkEVM(ctx context.Context, in *Input) Result {
	nets := in.Config.EVMNetworks()
	if len(nets) == 0 {
		return skip("no EVM node configured (CRYPTOPAY_EVM_RPC_URL)")
	}
	if in.EVM == nil {
		return skip("EVM node not checked")
	}
	detail, err := in.EVM(ctx)
	if err != nil {
		return fail(fmt.Sprintf("EVM node: %v", err),
			"point each network's RPC_URL at a synced node of that network (CRYPTOPAY_EVM_RPC_URL, CRYPTOPAY_EVM_<NETWORK>_RPC_URL), and fix its CHAIN_ID or TOKENS")
	}
	for _, c := range nets {
		if c.Factory == "" {
			return fail(fmt.Sprintf("no forwarder factory (%s): EVM invoices on %s cannot get deposit addresses", c.Var("FACTORY"), c.Network),
				"deploy the ForwarderFactory on "+c.Network+" and set "+c.Var("FACTORY")+" to its address")
		}
	}
	return pass(detail)
}

// EVMSweepFacts is what the command line reads from the EVM node for the
// sweep check (Input.EVMSweep).
type EVMSweepFacts struct {
	Factory string
	// FactoryDeployed: the node holds a ForwarderFactory's code at Factory
	// and the Forwarder logic it creates at its nonce 1.
	FactoryDeployed bool
	// GasKeySet: CRYPTOPAY_EVM_GAS_KEY_FILE names a readable key; then
	// GasAddress and GasBalance (wei) describe it.
	GasKeySet  bool
	GasAddress string
	GasBalance *big.Int
	// Asset is the chain's native asset, which pays gas ("ETH", "POL").
	Asset string
	// MinBalance (wei) is the warning threshold: the configured one, or a
	// few full sweeps at the gas-price ceiling.
	MinBalance *big.Int
	// Interval is the periodic sweep's period; 0 runs none.
	Interval time.Duration
}

// checkEVMSweep: the forwarder factory is deployed at the configured
// address on the node (else every deposit address belongs to nothing that
// can sweep it), and the gas key that pays sweeps holds a few sweeps' worth
// of gas (warn below the threshold, fail at zero, when a periodic sweep is
// configured to spend it).
func checkEVMSweep(ctx context.Context, in *Input) Result {
	nets := in.Config.EVMNetworks()
	if len(nets) == 0 {
		return skip("no EVM node configured (CRYPTOPAY_EVM_RPC_URL)")
	}
	if in.EVMSweep == nil {
		return skip("EVM sweeping not checked")
	}
	for _, c := range nets {
		if c.Factory == "" {
			return fail(fmt.Sprintf("no forwarder factory (%s): nothing can sweep a deposit address on %s", c.Var("FACTORY"), c.Network),
				"deploy it (`cryptopay eth deploy-factory`) and set "+c.Var("FACTORY")+" to the address printed")
		}
	}
	facts, err := in.EVMSweep(ctx)
	if err != nil {
		return fail(fmt.Sprintf("EVM node: %v", err), "fix CRYPTOPAY_EVM_GAS_KEY_FILE or the CRYPTOPAY_EVM_SWEEP_* settings, and point each network's RPC_URL at a reachable node")
	}
	// The worst network decides; a pass lists every one.
	var passed []string
	for i, f := range facts {
		r := sweepResult(nets[min(i, len(nets)-1)].Network, f)
		if r.Status != Pass {
			return r
		}
		passed = append(passed, r.Detail)
	}
	return pass(strings.Join(passed, "; "))
}

// sweepResult judges one network's facts.
func sweepResult(network string, f EVMSweepFacts) Result {
	if !f.FactoryDeployed {
		return fail(fmt.Sprintf("no ForwarderFactory at %s on %s: deposit addresses computed from it can never be swept", f.Factory, network),
			"deploy it (`cryptopay eth deploy-factory`) and set CRYPTOPAY_EVM_FACTORY to the address printed; never change it while invoices are open")
	}
	if !f.GasKeySet {
		if f.Interval > 0 {
			return fail("CRYPTOPAY_EVM_SWEEP_INTERVAL is set but no gas key (CRYPTOPAY_EVM_GAS_KEY_FILE): nothing can pay for sweeps",
				"create a key that holds only fees, store it mode 0600 and set CRYPTOPAY_EVM_GAS_KEY_FILE")
		}
		return warn(network+": factory "+f.Factory+" deployed; no gas key (CRYPTOPAY_EVM_GAS_KEY_FILE): money stays at deposit addresses until swept",
			"set CRYPTOPAY_EVM_GAS_KEY_FILE and CRYPTOPAY_EVM_SWEEP_INTERVAL, or sweep with `cryptopay eth sweep`")
	}
	bal := cryptopay.FormatAmount(f.GasBalance, 18) + " " + f.Asset
	floor := cryptopay.FormatAmount(f.MinBalance, 18) + " " + f.Asset
	switch {
	case f.GasBalance.Sign() == 0:
		return fail(fmt.Sprintf("gas key %s holds no ether on %s: no sweep can be sent", f.GasAddress, network),
			fmt.Sprintf("send it at least %s (fees only; it never holds the stores' money)", floor))
	case f.GasBalance.Cmp(f.MinBalance) < 0:
		return warn(fmt.Sprintf("gas key %s holds %s on %s, below %s (a few sweeps at the gas-price ceiling)", f.GasAddress, bal, network, floor),
			"top it up, or set CRYPTOPAY_EVM_GAS_KEY_MIN_BALANCE if fewer sweeps' worth is enough")
	}
	return pass(fmt.Sprintf("%s: factory %s deployed; gas key %s holds %s (warns below %s)", network, f.Factory, f.GasAddress, bal, floor))
}
