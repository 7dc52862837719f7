package account

import (
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/chaincfg/v2"
)

// Network names the Bitcoin network a merchant's key and deposit addresses
// belong to. Its values are the names used in configuration.
type Network string

// The networks the gateway serves. Testnet means testnet3 (Bitcoin Core's
// "test" chain); testnet4 shares its key versions and address prefix, so
// keys and addresses are the same on both.
const (
	Mainnet Network = "mainnet"
	Testnet Network = "testnet"
	Signet  Network = "signet"
	Regtest Network = "regtest"
)

// ErrUnknownNetwork is returned by ParseNetwork for a name it does not know.
var ErrUnknownNetwork = errors.New("unknown bitcoin network (want mainnet, testnet, signet or regtest)")

// ParseNetwork returns the Network named by s, ignoring case and surrounding
// space. Any other name is an error wrapping ErrUnknownNetwork.
func ParseNetwork(s string) (Network, error) {
	switch n := Network(strings.ToLower(strings.TrimSpace(s))); n {
	case Mainnet, Testnet, Signet, Regtest:
		return n, nil
	}
	return "", fmt.Errorf("account: %w", ErrUnknownNetwork)
}

// Params returns btcd's parameters for the network, or nil for a Network
// value that is not one of the constants. The result points at btcd's shared
// parameter values: callers must not modify it.
func (n Network) Params() *chaincfg.Params {
	switch n {
	case Mainnet:
		return &chaincfg.MainNetParams
	case Testnet:
		return &chaincfg.TestNet3Params
	case Signet:
		return &chaincfg.SigNetParams
	case Regtest:
		return &chaincfg.RegressionNetParams
	}
	return nil
}

// IsTest reports whether coins on the network are worthless test coins.
// Only Mainnet is not a test network.
func (n Network) IsTest() bool { return n != Mainnet }

// coinType is the BIP44 coin type in the key path m/84'/coin'/account'.
func (n Network) coinType() uint32 {
	if n == Mainnet {
		return 0
	}
	return 1
}

// valid reports whether n is one of the constants.
func (n Network) valid() bool { return n.Params() != nil }
