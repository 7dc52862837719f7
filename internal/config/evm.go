package config

import (
	"fmt"
	"strconv"
	"time"
)

// EVM configures the EVM chain watcher and deposit addresses for one EVM
// network. With an empty RPCURL the network is not served: no store can
// name it and no invoice is made on it.
type EVM struct {
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
}

// LoadEVM reads the EVM settings from getenv and the optional config file,
// as Load does, for the commands that need only them (`cryptopay eth`).
func LoadEVM(getenv func(string) string) (EVM, error) {
	env, err := withFile(getenv)
	if err != nil {
		return EVM{}, err
	}
	return loadEVM(env)
}

func loadEVM(env func(string) string) (EVM, error) {
	e := EVM{
		Network:       or(env("CRYPTOPAY_EVM_NETWORK"), "ethereum"),
		RPCURL:        env("CRYPTOPAY_EVM_RPC_URL"),
		Factory:       env("CRYPTOPAY_EVM_FACTORY"),
		Tokens:        env("CRYPTOPAY_EVM_TOKENS"),
		Confirmations: env("CRYPTOPAY_EVM_CONFIRMATIONS"),
	}
	var err error
	if v := env("CRYPTOPAY_EVM_CHAIN_ID"); v != "" {
		if e.ChainID, err = strconv.ParseUint(v, 10, 64); err != nil || e.ChainID == 0 {
			return e, fmt.Errorf("CRYPTOPAY_EVM_CHAIN_ID: want a positive whole number")
		}
	}
	if e.Finalized, err = strconv.ParseBool(or(env("CRYPTOPAY_EVM_FINALIZED"), "false")); err != nil {
		return e, fmt.Errorf("CRYPTOPAY_EVM_FINALIZED: want true or false")
	}
	if v := env("CRYPTOPAY_EVM_REORG_LIMIT"); v != "" {
		if e.SafetyLimit, err = strconv.Atoi(v); err != nil || e.SafetyLimit < 6 || e.SafetyLimit > 10000 {
			return e, fmt.Errorf("CRYPTOPAY_EVM_REORG_LIMIT: want a whole number from 6 to 10000")
		}
	}
	if e.PollInterval, err = time.ParseDuration(or(env("CRYPTOPAY_EVM_POLL_INTERVAL"), "2s")); err != nil || e.PollInterval <= 0 {
		return e, fmt.Errorf("CRYPTOPAY_EVM_POLL_INTERVAL: want a positive duration such as 2s")
	}
	if e.LeaseTTL, err = time.ParseDuration(or(env("CRYPTOPAY_EVM_LEASE_TTL"), "15s")); err != nil || e.LeaseTTL < time.Second || e.LeaseTTL > 10*time.Minute {
		return e, fmt.Errorf("CRYPTOPAY_EVM_LEASE_TTL: want a duration from 1s to 10m such as 15s")
	}
	return e, nil
}
