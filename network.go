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
)

var networks = []Network{NetworkBitcoin, NetworkBitcoinTestnet, NetworkBitcoinSignet, NetworkBitcoinRegtest}

// Networks returns every supported network.
func Networks() []Network { return append([]Network(nil), networks...) }

// ParseNetwork returns the network named s or a CodeInvalid error naming
// param.
func ParseNetwork(param, s string) (Network, error) {
	for _, n := range networks {
		if string(n) == s {
			return n, nil
		}
	}
	names := make([]string, len(networks))
	for i, n := range networks {
		names[i] = string(n)
	}
	return "", Invalid(param, "%s %q is not supported; use one of %s.", param, s, strings.Join(names, ", "))
}

// Livemode reports whether the network carries real value.
func (n Network) Livemode() bool { return n == NetworkBitcoin }

// Asset returns the native asset's currency on the network.
func (n Network) Asset() Currency {
	c, _ := LookupCurrency("BTC")
	return c
}

// URIScheme returns the payment URI scheme (BIP21) for the network.
func (n Network) URIScheme() string { return "bitcoin" }
