package cryptopay

import "strings"

// Network is a chain an invoice can be paid on. Live networks move real
// value; every other network is a test network, visible only to test keys.
type Network string

// Supported networks.
const (
	NetworkBitcoin        Network = "bitcoin"
	NetworkBitcoinTestnet Network = "bitcoin-testnet"
	NetworkBitcoinSignet  Network = "bitcoin-signet"
	NetworkBitcoinRegtest Network = "bitcoin-regtest"

	// EVM networks. Their chain ids, token contracts and confirmation
	// tiers are configuration (internal/evm/evmnet), not part of the
	// domain: the domain only knows their names, mode and native asset.
	NetworkEthereum    Network = "ethereum"
	NetworkBase        Network = "base"
	NetworkArbitrum    Network = "arbitrum"
	NetworkPolygon     Network = "polygon"
	NetworkBSC         Network = "bsc"
	NetworkSepolia     Network = "sepolia"
	NetworkBaseSepolia Network = "base-sepolia"
	NetworkEVMDev      Network = "evm-dev" // a local development chain (geth --dev, anvil)
)

// networkInfo is what the domain knows of a network.
type networkInfo struct {
	live   bool
	evm    bool
	native string // code of the native asset
	// decimals of the native asset's base units: 8 for bitcoin (satoshi),
	// 18 on every EVM chain (wei), whether or not it is an invoice
	// currency (POL, BNB).
	decimals int
}

var networkTable = map[Network]networkInfo{
	NetworkBitcoin:        {live: true, native: "BTC", decimals: 8},
	NetworkBitcoinTestnet: {native: "BTC", decimals: 8},
	NetworkBitcoinSignet:  {native: "BTC", decimals: 8},
	NetworkBitcoinRegtest: {native: "BTC", decimals: 8},
	NetworkEthereum:       {live: true, evm: true, native: "ETH", decimals: 18},
	NetworkBase:           {live: true, evm: true, native: "ETH", decimals: 18},
	NetworkArbitrum:       {live: true, evm: true, native: "ETH", decimals: 18},
	NetworkPolygon:        {live: true, evm: true, native: "POL", decimals: 18},
	NetworkBSC:            {live: true, evm: true, native: "BNB", decimals: 18},
	NetworkSepolia:        {evm: true, native: "ETH", decimals: 18},
	NetworkBaseSepolia:    {evm: true, native: "ETH", decimals: 18},
	NetworkEVMDev:         {evm: true, native: "ETH", decimals: 18},
}

var networks = []Network{
	NetworkBitcoin, NetworkBitcoinTestnet, NetworkBitcoinSignet, NetworkBitcoinRegtest,
	NetworkEthereum, NetworkBase, NetworkArbitrum, NetworkPolygon, NetworkBSC,
	NetworkSepolia, NetworkBaseSepolia, NetworkEVMDev,
}

// Networks returns every supported network.
func Networks() []Network { return append([]Network(nil), networks...) }

// ParseNetwork returns the network named s or a CodeInvalid error naming
// param.
func ParseNetwork(param, s string) (Network, error) {
	if _, ok := networkTable[Network(s)]; ok {
		return Network(s), nil
	}
	names := make([]string, len(networks))
	for i, n := range networks {
		names[i] = string(n)
	}
	return "", Invalid(param, "%s %q is not supported; use one of %s.", param, s, strings.Join(names, ", "))
}

// Livemode reports whether the network carries real value.
func (n Network) Livemode() bool { return networkTable[n].live }

// EVM reports whether the network is an EVM chain (accounts, ERC-20
// tokens, CREATE2 deposit addresses) rather than Bitcoin.
func (n Network) EVM() bool { return networkTable[n].evm }

// Asset returns the native asset's currency on the network. The native
// assets of Polygon and BSC (POL, BNB) are not invoice currencies: their
// zero Currency has no code, and invoices there are in tokens only.
func (n Network) Asset() Currency {
	c, _ := LookupCurrency(networkTable[n].native)
	return c
}

// NativeAsset returns the code of the network's native asset, whether or
// not invoices can be priced in it.
func (n Network) NativeAsset() string { return networkTable[n].native }

// AssetDecimals returns the decimals of asset's base units on n: the
// native asset's (wei for POL and BNB too), else the currency's (a token's
// decimals are checked against its contract when the chain is
// configured). ok is false for an asset the gateway does not know.
func (n Network) AssetDecimals(asset string) (decimals int, ok bool) {
	if info := networkTable[n]; info.native != "" && asset == info.native {
		return info.decimals, true
	}
	c, ok := LookupCurrency(asset)
	return c.Decimals, ok && c.Crypto
}

// Assets returns the codes of the assets an invoice on n may be paid in:
// the native asset when it is an invoice currency, and on EVM chains the
// ERC-20 stablecoins (whether a chain has a contract for each is
// configuration, checked where the registry is known).
func (n Network) Assets() []string {
	var out []string
	if c := n.Asset(); c.Code != "" {
		out = append(out, c.Code)
	}
	if n.EVM() {
		out = append(out, "USDC", "USDT")
	}
	return out
}

// URIScheme returns the payment URI scheme for the network: BIP21's
// "bitcoin" or EIP-681's "ethereum" (every EVM chain; the chain id in the
// URI tells them apart).
func (n Network) URIScheme() string {
	if n.EVM() {
		return "ethereum"
	}
	return "bitcoin"
}
