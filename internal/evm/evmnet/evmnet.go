// Package evmnet is the registry of EVM networks the gateway can watch:
// for each network its chain id, the ERC-20 token contracts it accepts
// (USDC and USDT), whether it serves the "finalized" block tag, its reorg
// limit and its default confirmation tiers counted in blocks. The defaults
// below are data, and every one of them can be overridden by configuration
// (CRYPTOPAY_EVM_*), so a new chain or a moved contract needs no code.
//
// It is not a node client: checking a registry against a node (chain id,
// token decimals) is Check's job in check.go, over a small interface.
package evmnet

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/cryptopay/cryptopay"
)

// Token is one accepted ERC-20 contract on a chain.
type Token struct {
	Asset    string         // "USDC" or "USDT"
	Contract common.Address // the token contract
	Decimals int            // as the contract reports them; must equal the asset's
}

// Chain is one EVM network's parameters.
type Chain struct {
	Network cryptopay.Network
	ChainID uint64
	Tokens  []Token
	// Finalized: the chain's clients serve the "finalized" block tag, so
	// the watcher can be told to follow only finalized blocks.
	Finalized bool
	// ReorgLimit is the deepest reorganisation the watcher follows
	// automatically (the tracker's safety limit) in blocks.
	ReorgLimit int
	// Tiers are the default confirmation tiers in blocks, written as
	// CRYPTOPAY_EVM_CONFIRMATIONS is ("100.00:3,1000.00:12,24", USD).
	Tiers string
}

// Blocks come at very different rates (Ethereum 12 s, Base 2 s, Arbitrum
// 0.25 s, Polygon 2 s, BSC under 1 s), and so do reorgs: Ethereum's are
// one or two blocks and it finalises in about 64; Polygon PoS had reorgs
// of dozens of blocks before its milestones. The tiers keep the guide's
// shape (more value, more blocks) scaled to each chain.
var defaults = []Chain{
	{Network: cryptopay.NetworkEthereum, ChainID: 1, Finalized: true, ReorgLimit: 128, Tiers: "100.00:3,1000.00:12,24", Tokens: []Token{
		{"USDC", common.HexToAddress("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"), 6},
		{"USDT", common.HexToAddress("0xdAC17F958D2ee523a2206206994597C13D831ec7"), 6},
	}},
	{Network: cryptopay.NetworkBase, ChainID: 8453, Finalized: true, ReorgLimit: 300, Tiers: "100.00:10,1000.00:30,60", Tokens: []Token{
		{"USDC", common.HexToAddress("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"), 6},
		{"USDT", common.HexToAddress("0xfde4C96c8593536E31F229EA8f37b2ADa2699bb2"), 6},
	}},
	{Network: cryptopay.NetworkArbitrum, ChainID: 42161, Finalized: true, ReorgLimit: 600, Tiers: "100.00:20,1000.00:120,240", Tokens: []Token{
		{"USDC", common.HexToAddress("0xaf88d065e77c8cC2239327C5EDb3A432268e5831"), 6},
		{"USDT", common.HexToAddress("0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9"), 6},
	}},
	{Network: cryptopay.NetworkPolygon, ChainID: 137, Finalized: true, ReorgLimit: 256, Tiers: "100.00:32,1000.00:64,128", Tokens: []Token{
		{"USDC", common.HexToAddress("0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359"), 6},
		{"USDT", common.HexToAddress("0xc2132D05D31c914a87C6611C10748AEb04B58e8F"), 6},
	}},
	// BSC's Binance-Peg USDC and USDT have 18 decimals, not the 6 the
	// gateway's USDC and USDT amounts carry: they are listed so that Check
	// refuses them by name rather than silently mis-scale an amount.
	{Network: cryptopay.NetworkBSC, ChainID: 56, Finalized: true, ReorgLimit: 128, Tiers: "100.00:15,1000.00:30,60", Tokens: []Token{
		{"USDC", common.HexToAddress("0x8AC76a51cc950d9822D68b83fE1Ad97B32Cd580d"), 18},
		{"USDT", common.HexToAddress("0x55d398326f99059fF775485246999027B3197955"), 18},
	}},
	{Network: cryptopay.NetworkSepolia, ChainID: 11155111, Finalized: true, ReorgLimit: 128, Tiers: "100.00:3,1000.00:12,24", Tokens: []Token{
		{"USDC", common.HexToAddress("0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238"), 6},
	}},
	{Network: cryptopay.NetworkBaseSepolia, ChainID: 84532, Finalized: true, ReorgLimit: 300, Tiers: "100.00:10,1000.00:30,60", Tokens: []Token{
		{"USDC", common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e"), 6},
	}},
	// The dev chain (geth --dev, anvil, the simulated backend) has no
	// token until one is deployed: `cryptopay dev` deploys a test USDC
	// and configures its address.
	{Network: cryptopay.NetworkEVMDev, ChainID: 1337, ReorgLimit: 64, Tiers: "100.00:1,1000.00:3,6"},
}

// Default returns the built-in parameters of an EVM network.
func Default(n cryptopay.Network) (Chain, bool) {
	i := slices.IndexFunc(defaults, func(c Chain) bool { return c.Network == n })
	if i < 0 {
		return Chain{}, false
	}
	c := defaults[i]
	c.Tokens = slices.Clone(c.Tokens)
	return c, true
}

// Token returns the chain's contract for asset.
func (c *Chain) Token(asset string) (Token, bool) {
	i := slices.IndexFunc(c.Tokens, func(t Token) bool { return t.Asset == asset })
	if i < 0 {
		return Token{}, false
	}
	return c.Tokens[i], true
}

// Assets returns the codes of what invoices on the chain can ask for: the
// native asset when it is an invoice currency (ETH), then the tokens.
func (c *Chain) Assets() []string {
	var out []string
	if a := c.Network.Asset(); a.Code != "" {
		out = append(out, a.Code)
	}
	for _, t := range c.Tokens {
		out = append(out, t.Asset)
	}
	return out
}

// tokenAssets is the closed set of token assets the registry admits. A
// fee-on-transfer or rebasing token credits less (or more) than the
// Transfer log says; such tokens have no place here, and no configuration
// can add one: only these codes, checked for their decimals at start.
var tokenAssets = []string{"USDC", "USDT"}

// ParseTokens reads a token override, "USDC=0xA0b8...,USDT=0xdAC1...":
// asset codes from the closed set, each once, with a contract address. The
// decimals are the asset's (6) and are checked against the contract at
// start. An empty spec is no override.
func ParseTokens(param, spec string) ([]Token, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	var out []Token
	for part := range strings.SplitSeq(spec, ",") {
		asset, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("%s: %q: want ASSET=0xCONTRACT", param, part)
		}
		if !slices.Contains(tokenAssets, asset) {
			return nil, fmt.Errorf("%s: %q: only %s are accepted (fee-on-transfer and rebasing tokens are refused)", param, asset, strings.Join(tokenAssets, " and "))
		}
		a, err := ParseAddress(addr)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", param, asset, err)
		}
		if slices.ContainsFunc(out, func(t Token) bool { return t.Asset == asset }) {
			return nil, fmt.Errorf("%s: %s is listed twice", param, asset)
		}
		cur, _ := cryptopay.LookupCurrency(asset)
		out = append(out, Token{Asset: asset, Contract: a, Decimals: cur.Decimals})
	}
	return out, nil
}

// ParseAddress reads a 0x-prefixed 20-byte hex address. A mixed-case
// address must carry a valid EIP-55 checksum, so a typo in one letter is
// caught rather than sending money nowhere; all-lower or all-upper hex is
// taken as is.
func ParseAddress(s string) (common.Address, error) {
	if !strings.HasPrefix(s, "0x") || len(s) != 42 || !common.IsHexAddress(s) {
		return common.Address{}, fmt.Errorf("%q is not a 0x-prefixed 20-byte hex address", s)
	}
	a := common.HexToAddress(s)
	body := s[2:]
	if body != strings.ToLower(body) && body != strings.ToUpper(body) && a.Hex() != s {
		return common.Address{}, fmt.Errorf("%q has a wrong EIP-55 checksum (mixed case must match %s)", s, a.Hex())
	}
	if a == (common.Address{}) {
		return common.Address{}, fmt.Errorf("%q is the zero address", s)
	}
	return a, nil
}

// Policy parses the chain's confirmation tiers (tiers overrides c.Tiers
// when not empty); with finalized, every payment needs one block past the
// finalized head, because the watcher then follows finalized blocks only.
func (c *Chain) Policy(tiers string, finalized bool) (cryptopay.ConfirmationPolicy, error) {
	if finalized {
		return cryptopay.ParseConfirmationPolicy("CRYPTOPAY_EVM_CONFIRMATIONS", "USD", "1", "")
	}
	return cryptopay.ParseConfirmationPolicy("CRYPTOPAY_EVM_CONFIRMATIONS", "USD", cmp.Or(tiers, c.Tiers), "")
}
