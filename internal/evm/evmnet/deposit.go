package evmnet

import (
	"fmt"
	"net/url"

	"github.com/ethereum/go-ethereum/common"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/evm/forwarder"
)

// Deposits is a configured chain as the invoice service uses it
// (gateway.EVMChain): deposit addresses from the forwarder factory, the
// token registry and the confirmation policy.
type Deposits struct {
	Chain   Chain
	Factory common.Address // the ForwarderFactory every deposit address is computed from
	Policy  cryptopay.ConfirmationPolicy
}

// ParseReceiver validates a receiving address (see ParseAddress) and
// returns it checksummed.
func (d *Deposits) ParseReceiver(s string) (string, error) {
	a, err := ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.Hex(), nil
}

// DepositAddress returns invoice id's forwarder address for receiver.
func (d *Deposits) DepositAddress(receiver, invoiceID string) (string, error) {
	r, err := ParseAddress(receiver)
	if err != nil {
		return "", fmt.Errorf("receiving address: %w", err)
	}
	if d.Factory == (common.Address{}) {
		return "", fmt.Errorf("no forwarder factory configured for %s (CRYPTOPAY_EVM_FACTORY)", d.Chain.Network)
	}
	return forwarder.DepositAddress(d.Factory, r, forwarder.Salt(invoiceID)).Hex(), nil
}

// Assets lists what invoices on the chain may ask for.
func (d *Deposits) Assets() []string { return d.Chain.Assets() }

// Confirmations returns the chain's policy.
func (d *Deposits) Confirmations() cryptopay.ConfirmationPolicy { return d.Policy }

// PaymentURI writes the EIP-681 request for due base units of asset to
// address: "ethereum:<address>@<chain id>?value=<wei>" for ether, and for
// a token a call of its transfer function,
// "ethereum:<token>@<chain id>/transfer?address=<address>&uint256=<units>".
// Amounts are integers in base units, as EIP-681 writes them; a due of 0
// leaves the amount out. The chain id makes a wallet on another chain
// refuse the request rather than pay on the wrong chain.
func (d *Deposits) PaymentURI(address, asset, due string) string {
	chainID := fmt.Sprint(d.Chain.ChainID)
	if t, ok := d.Chain.Token(asset); ok {
		q := "address=" + url.QueryEscape(address)
		if due != "0" && due != "" {
			q += "&uint256=" + due
		}
		return "ethereum:" + t.Contract.Hex() + "@" + chainID + "/transfer?" + q
	}
	u := "ethereum:" + address + "@" + chainID
	if due != "0" && due != "" {
		u += "?value=" + due
	}
	return u
}
