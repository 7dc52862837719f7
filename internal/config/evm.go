package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// EVM configures the EVM chain watcher and deposit addresses for one EVM
// network. With an empty RPCURL the network is not served: no store can
// name it and no invoice is made on it.
type EVM struct {
	// Prefix is the prefix of the variables it was read from:
	// "CRYPTOPAY_EVM_" for the one-network shorthand, NetworkPrefix(Network)
	// for a network CRYPTOPAY_EVM_NETWORKS lists.
	Prefix        string
	Network       string // ethereum, base, arbitrum, polygon, bsc, sepolia, base-sepolia or evm-dev
	RPCURL        string
	ChainID       uint64 // 0: the network's registry default
	Factory       string // ForwarderFactory address deposit addresses are computed from
	Tokens        string // token registry override, "USDC=0x...,USDT=0x..."
	Confirmations string // tiers in blocks, "100.00:3,1000.00:12,24" (USD); "" the network's default
	Finalized     bool   // follow the "finalized" block instead of "latest"
	SafetyLimit   int    // 0: the network's default reorg limit
	PollInterval  time.Duration
	LeaseTTL      time.Duration
}

var evmVars = []Var{
	{"CRYPTOPAY_EVM_RPC_URL", "", "EVM execution client JSON-RPC URL (geth, Nethermind, Erigon, Reth or a provider); unset serves no EVM network."},
	{"CRYPTOPAY_EVM_NETWORK", "ethereum", "EVM network of that node: ethereum, base, arbitrum, polygon, bsc (live) or sepolia, base-sepolia, evm-dev (test)."},
	{"CRYPTOPAY_EVM_CHAIN_ID", "<network's>", "Chain id the node must report (1, 8453, 42161, 137, 56, 11155111, 84532, 1337 by default); serve refuses a node of another chain."},
	{"CRYPTOPAY_EVM_FACTORY", "", "Address of the deployed ForwarderFactory that every deposit address is computed from (CREATE2). Required to take EVM invoices; never change it while invoices are open."},
	{"CRYPTOPAY_EVM_TOKENS", "<registry>", "Token contracts, e.g. USDC=0xA0b8...,USDT=0xdAC1...; only USDC and USDT, each checked at start for 6 decimals and no transfer fee. Default: the network's mainnet contracts."},
	{"CRYPTOPAY_EVM_CONFIRMATIONS", "<network's>", "Confirmation tiers counted in this chain's blocks by invoice value in USD, e.g. 100.00:3,1000.00:12,24 (Ethereum's default); they replace the store's Bitcoin tiers on this network."},
	{"CRYPTOPAY_EVM_FINALIZED", "false", "true follows only the chain's finalized block (payments seen later, settled at the chain's own finality, one confirmation past it)."},
	{"CRYPTOPAY_EVM_REORG_LIMIT", "<network's>", "Deepest reorganisation handled automatically, in blocks (128 on Ethereum); no tier may require more."},
	{"CRYPTOPAY_EVM_POLL_INTERVAL", "2s", "How often the node is asked for a new block."},
	{"CRYPTOPAY_EVM_LEASE_TTL", "15s", "As CRYPTOPAY_BITCOIN_LEASE_TTL, for the EVM watcher."},
	{"CRYPTOPAY_EVM_NETWORKS", "", "More EVM networks served beside the one above, e.g. base,arbitrum,polygon; each reads its own CRYPTOPAY_EVM_<NETWORK>_* variables."},
	{"CRYPTOPAY_EVM_<NETWORK>_*", "", "A listed network's settings, named as the one-network variables with the network in upper case (- as _): CRYPTOPAY_EVM_BASE_RPC_URL (required), _CHAIN_ID, _FACTORY, _TOKENS, _CONFIRMATIONS, _FINALIZED, _REORG_LIMIT, _POLL_INTERVAL. Each network has its own node, watcher, lease and sweeper."},
}

// LoadEVM reads the settings of one EVM network from getenv and the
// optional config file, as Load does, for the commands that need only them
// (`cryptopay eth`): the network CRYPTOPAY_EVM_NETWORKS lists under that
// name, else the one-network shorthand (network "" or its
// CRYPTOPAY_EVM_NETWORK).
func LoadEVM(getenv func(string) string, network string) (EVM, error) {
	env, err := withFile(getenv)
	if err != nil {
		return EVM{}, err
	}
	e, err := loadEVM(env)
	if err != nil {
		return e, err
	}
	shorthand := ""
	if e.RPCURL != "" {
		shorthand = e.Network
	}
	more, err := loadEVMNetworks(env, shorthand)
	if err != nil {
		return e, err
	}
	if network == "" || network == e.Network {
		return e, nil
	}
	for _, m := range more {
		if m.Network == network {
			return m, nil
		}
	}
	return e, fmt.Errorf("--network %s: not configured (CRYPTOPAY_EVM_NETWORK is %s; CRYPTOPAY_EVM_NETWORKS lists the others)", network, e.Network)
}

func loadEVM(env func(string) string) (EVM, error) {
	return loadEVMNetwork(env, "CRYPTOPAY_EVM_", or(env("CRYPTOPAY_EVM_NETWORK"), "ethereum"))
}

// loadEVMNetwork reads one network's settings from the variables named
// prefix+"RPC_URL", prefix+"CHAIN_ID" and so on. The lease TTL is the
// gateway's, CRYPTOPAY_EVM_LEASE_TTL, whatever the prefix.
func loadEVMNetwork(env func(string) string, prefix, network string) (EVM, error) {
	e := EVM{
		Prefix:        prefix,
		Network:       network,
		RPCURL:        env(prefix + "RPC_URL"),
		Factory:       env(prefix + "FACTORY"),
		Tokens:        env(prefix + "TOKENS"),
		Confirmations: env(prefix + "CONFIRMATIONS"),
	}
	var err error
	if v := env(prefix + "CHAIN_ID"); v != "" {
		if e.ChainID, err = strconv.ParseUint(v, 10, 64); err != nil || e.ChainID == 0 {
			return e, fmt.Errorf("%sCHAIN_ID: want a positive whole number", prefix)
		}
	}
	if e.Finalized, err = strconv.ParseBool(or(env(prefix+"FINALIZED"), "false")); err != nil {
		return e, fmt.Errorf("%sFINALIZED: want true or false", prefix)
	}
	if v := env(prefix + "REORG_LIMIT"); v != "" {
		if e.SafetyLimit, err = strconv.Atoi(v); err != nil || e.SafetyLimit < 6 || e.SafetyLimit > 10000 {
			return e, fmt.Errorf("%sREORG_LIMIT: want a whole number from 6 to 10000", prefix)
		}
	}
	if e.PollInterval, err = time.ParseDuration(or(env(prefix+"POLL_INTERVAL"), "2s")); err != nil || e.PollInterval <= 0 {
		return e, fmt.Errorf("%sPOLL_INTERVAL: want a positive duration such as 2s", prefix)
	}
	if e.LeaseTTL, err = time.ParseDuration(or(env("CRYPTOPAY_EVM_LEASE_TTL"), "15s")); err != nil || e.LeaseTTL < time.Second || e.LeaseTTL > 10*time.Minute {
		return e, fmt.Errorf("CRYPTOPAY_EVM_LEASE_TTL: want a duration from 1s to 10m such as 15s")
	}
	return e, nil
}

// evmNetworkNames are the networks CRYPTOPAY_EVM_NETWORKS may list (the
// registry's; internal/evm/evmnet holds their parameters).
var evmNetworkNames = []string{"ethereum", "base", "arbitrum", "polygon", "bsc", "sepolia", "base-sepolia", "evm-dev"}

// NetworkPrefix returns the variable prefix of network in
// CRYPTOPAY_EVM_NETWORKS: "base-sepolia" reads CRYPTOPAY_EVM_BASE_SEPOLIA_*.
func NetworkPrefix(network string) string {
	return "CRYPTOPAY_EVM_" + strings.ToUpper(strings.ReplaceAll(network, "-", "_")) + "_"
}

// loadEVMNetworks reads the networks CRYPTOPAY_EVM_NETWORKS lists beside
// the shorthand one (shorthand, with its RPC URL set, or "" for none). Each
// is named once, is a known EVM network and has its own RPC URL.
func loadEVMNetworks(env func(string) string, shorthand string) ([]EVM, error) {
	list := strings.TrimSpace(env("CRYPTOPAY_EVM_NETWORKS"))
	if list == "" {
		return nil, nil
	}
	seen := map[string]bool{}
	if shorthand != "" {
		seen[shorthand] = true
	}
	var out []EVM
	for n := range strings.SplitSeq(list, ",") {
		n = strings.TrimSpace(n)
		if !slices.Contains(evmNetworkNames, n) {
			return nil, fmt.Errorf("CRYPTOPAY_EVM_NETWORKS: %q is not an EVM network; use %s", n, strings.Join(evmNetworkNames, ", "))
		}
		if seen[n] {
			return nil, fmt.Errorf("CRYPTOPAY_EVM_NETWORKS: %s is configured twice (listed twice, or also the CRYPTOPAY_EVM_NETWORK of CRYPTOPAY_EVM_RPC_URL)", n)
		}
		seen[n] = true
		e, err := loadEVMNetwork(env, NetworkPrefix(n), n)
		if err != nil {
			return nil, err
		}
		if e.RPCURL == "" {
			return nil, fmt.Errorf("%sRPC_URL: %s is listed in CRYPTOPAY_EVM_NETWORKS but has no node", e.Prefix, n)
		}
		out = append(out, e)
	}
	return out, nil
}

// EVMNetworks returns every EVM network the gateway serves: the one the
// CRYPTOPAY_EVM_* shorthand configures (when its RPC URL is set), then
// those CRYPTOPAY_EVM_NETWORKS lists.
func (c *Config) EVMNetworks() []EVM {
	var out []EVM
	if c.EVM.RPCURL != "" {
		out = append(out, c.EVM)
	}
	return append(out, c.EVMMore...)
}

// Var returns the name of the network's variable suffix
// ("TOKENS" → "CRYPTOPAY_EVM_BASE_TOKENS"), for messages.
func (e EVM) Var(suffix string) string { return cmp.Or(e.Prefix, "CRYPTOPAY_EVM_") + suffix }
