package doctor

import (
	"context"
	"fmt"
)

// checkEVM: with an EVM node configured, the node answers, serves the
// configured chain id, and every registered token contract reports the
// decimals its asset's amounts carry without a transfer fee (Input.EVM,
// which the command line runs against the node); the forwarder factory
// is set, else no EVM invoice can get a deposit address. Tiers above the
// reorg limit are refused when the configuration is loaded, before any
// check runs. The gas key that pays for sweeps is the sweeper's and is not
// checked here.
func checkEVM(ctx context.Context, in *Input) Result {
	c := in.Config.EVM
	if c.RPCURL == "" {
		return skip("no EVM node configured (CRYPTOPAY_EVM_RPC_URL)")
	}
	if in.EVM == nil {
		return skip("EVM node not checked")
	}
	detail, err := in.EVM(ctx)
	if err != nil {
		return fail(fmt.Sprintf("%s node: %v", c.Network, err),
			"point CRYPTOPAY_EVM_RPC_URL at a synced node of CRYPTOPAY_EVM_NETWORK, and fix CRYPTOPAY_EVM_CHAIN_ID or CRYPTOPAY_EVM_TOKENS")
	}
	if c.Factory == "" {
		return fail("no forwarder factory (CRYPTOPAY_EVM_FACTORY): EVM invoices cannot get deposit addresses",
			"deploy the ForwarderFactory on "+c.Network+" and set CRYPTOPAY_EVM_FACTORY to its address")
	}
	return pass(detail)
}
