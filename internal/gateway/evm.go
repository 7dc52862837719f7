package gateway

import (
	"fmt"
	"math/big"

	"github.com/cryptopay/cryptopay"
)

// EVMChain is what the service needs of one configured EVM network: the
// receiving-address check, the counterfactual deposit address of an
// invoice, the assets the chain's token registry accepts, its confirmation
// tiers counted in blocks, and the EIP-681 payment URI. It is declared here,
// where it is used, so the service imports no chain package;
// internal/evm/evmnet implements it.
type EVMChain interface {
	// ParseReceiver validates a store's receiving address and returns it
	// in the form stored (EIP-55 checksummed).
	ParseReceiver(s string) (string, error)
	// DepositAddress returns the deposit address of invoice id for the
	// store's receiving address: a CREATE2 forwarder that can only ever
	// send what it holds to receiver.
	DepositAddress(receiver, invoiceID string) (string, error)
	// Assets lists the asset codes invoices on the chain may ask for.
	Assets() []string
	// Confirmations is the chain's policy: value tiers counted in its
	// blocks, which replace the store's (whose tiers count Bitcoin blocks).
	Confirmations() cryptopay.ConfirmationPolicy
	// PaymentURI returns the EIP-681 URI paying due base units of asset
	// to address.
	PaymentURI(address, asset string, due string) string
}

// evmChain returns the configured chain of an EVM network, or a clear
// error for a network this gateway does not serve.
func (s *Service) evmChain(n cryptopay.Network) (EVMChain, error) {
	c := s.evm[n]
	if c == nil {
		return nil, cryptopay.Invalid("network", "Network %s is not configured on this gateway (CRYPTOPAY_EVM_NETWORK, CRYPTOPAY_EVM_NETWORKS).", n)
	}
	return c, nil
}

// PaymentURI returns the invoice's payment URI when its network needs the
// chain's configuration to write one (EIP-681 carries the chain id and
// the token contract), else "" and the caller writes BIP21.
func (s *Service) PaymentURI(inv *cryptopay.Invoice) string {
	return s.PaymentURIFor(inv, inv.AmountDue())
}

// PaymentURIFor is PaymentURI for amount base units.
func (s *Service) PaymentURIFor(inv *cryptopay.Invoice, amount *big.Int) string {
	c := s.evm[inv.Network]
	if c == nil {
		return ""
	}
	return c.PaymentURI(inv.Address, inv.Asset, amount.String())
}

// pickAsset returns the asset an invoice on n is paid in: the one asked
// for, which the chain must accept, or the network's first asset.
func (s *Service) pickAsset(n cryptopay.Network, asked string) (cryptopay.Currency, error) {
	assets := n.Assets()
	if n.EVM() {
		c, err := s.evmChain(n)
		if err != nil {
			return cryptopay.Currency{}, err
		}
		assets = c.Assets()
	}
	if asked == "" {
		if len(assets) == 0 {
			return cryptopay.Currency{}, cryptopay.Invalid("asset", "Network %s has no asset configured.", n)
		}
		asked = assets[0]
	}
	for _, a := range assets {
		if a == asked {
			cur, ok := cryptopay.LookupCurrency(a)
			if !ok {
				return cryptopay.Currency{}, fmt.Errorf("asset %s has no currency", a)
			}
			return cur, nil
		}
	}
	return cryptopay.Currency{}, cryptopay.Invalid("asset", "asset %q is not accepted on %s; use one of %v.", asked, n, assets)
}
