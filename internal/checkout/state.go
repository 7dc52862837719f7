package checkout

import (
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
)

// Kind is the state of a checkout as the payer sees it. It is derived from
// the invoice's status, flags and payments; it is never stored.
type Kind string

// The states of the checkout page.
const (
	KindWaiting     Kind = "waiting"      // new, nothing paid
	KindPartial     Kind = "partial"      // new, part paid: pay the rest
	KindMempool     Kind = "mempool"      // paid in full, no confirmation yet
	KindConfirming  Kind = "confirming"   // paid in full, confirming
	KindPaid        Kind = "paid"         // settled
	KindExpired     Kind = "expired"      // not paid in time
	KindPaidLate    Kind = "paid_late"    // expired, then paid
	KindDoubleSpent Kind = "double_spent" // new, and a payment was double spent
	KindInvalid     Kind = "invalid"      // paid, but not confirmed within the monitoring window
)

// State is what the page shows and what each server-sent event carries. It
// holds only what the payer needs: never metadata or the customer
// reference.
type State struct {
	Kind          Kind     `json:"state"`
	Status        string   `json:"status"` // the invoice's base status
	Flags         []string `json:"flags"`
	Title         string   `json:"title"`
	Message       string   `json:"message"`
	Asset         string   `json:"asset"`
	Address       string   `json:"address"`
	AmountDue     string   `json:"amount_due"`  // the whole crypto amount, decimal
	AmountPaid    string   `json:"amount_paid"` // seen and counted (see cryptopay.PaymentStatus.Counted)
	Remaining     string   `json:"remaining"`   // still to pay; "0.00000000" once paid
	Price         string   `json:"price"`       // "65.00 USD"; "" when priced in the asset
	Confirmations int      `json:"confirmations"`
	Required      int      `json:"required_confirmations"`
	URI           string   `json:"uri"`    // BIP21 URI for the remaining amount
	QRURL         string   `json:"qr_url"` // the QR code of URI
	Payable       bool     `json:"payable"`
	Final         bool     `json:"final"` // no further change is expected; the stream ends
	ExpiresAt     string   `json:"expires_at"`
	ExpiresIn     int64    `json:"expires_in"` // whole seconds from when the state was computed
	RedirectURL   string   `json:"redirect_url,omitempty"`
	// Network names the chain to pay on, and Warning says plainly that
	// the same asset sent on another chain does not pay this invoice (on
	// EVM chains one address exists on every chain: the most common
	// stablecoin mistake).
	Network string `json:"network"`
	Warning string `json:"warning,omitempty"`
}

// newState derives the payer's view of inv at now, in the words of c.
func newState(inv *cryptopay.Invoice, now time.Time, c *Catalogue) State {
	asset, ok := cryptopay.LookupCurrency(inv.Asset) // USDC on an EVM chain, not the chain's ETH
	if !ok {
		asset = inv.Network.Asset()
	}
	remaining := inv.AmountDue()
	s := State{
		Status:     string(inv.Status),
		Network:    string(inv.Network),
		Flags:      inv.Flags.Names(),
		Asset:      asset.Code,
		Address:    inv.Address,
		AmountDue:  cryptopay.FormatAmount(inv.CryptoDue, asset.Decimals),
		AmountPaid: cryptopay.FormatAmount(inv.AmountPaid, asset.Decimals),
		Remaining:  cryptopay.FormatAmount(remaining, asset.Decimals),
		Required:   inv.RequiredConfirmations,
		ExpiresAt:  inv.ExpiresAt.UTC().Format(time.RFC3339),
		ExpiresIn:  max(int64(inv.ExpiresAt.Sub(now)/time.Second), 0),
	}
	if cur, ok := cryptopay.LookupCurrency(inv.Currency); ok && !cur.Crypto {
		s.Price = cryptopay.FormatAmount(inv.Amount, cur.Decimals) + " " + cur.Code
	}
	uriAmount := remaining
	if uriAmount.Sign() == 0 {
		uriAmount = inv.CryptoDue
	}
	s.URI = paymentURI(inv.Network, inv.Address, uriAmount, asset.Decimals)
	s.QRURL = "/pay/" + inv.ID + "/qr.svg?amount=" + cryptopay.FormatAmount(uriAmount, asset.Decimals)

	s.Kind = kindOf(inv, now)
	switch s.Kind {
	case KindWaiting:
		s.Title, s.Message, s.Payable = c.Waiting, c.WaitingText, true
	case KindPartial:
		s.Title, s.Message, s.Payable = c.Partial, fmt.Sprintf(c.PartialText, s.Remaining+" "+s.Asset), true
	case KindMempool:
		s.Title, s.Message = c.Mempool, c.MempoolText
	case KindConfirming:
		s.Confirmations = minConfirmations(inv.Payments)
		s.Title, s.Message = c.Confirming, fmt.Sprintf(c.ConfirmingText, s.Confirmations, s.Required)
	case KindPaid:
		s.Title, s.Message, s.Final = c.Paid, c.PaidText, true
		s.Confirmations = s.Required
		s.RedirectURL = inv.RedirectURL
	case KindExpired:
		s.Title, s.Message, s.Final = c.Expired, c.ExpiredText, true
	case KindPaidLate:
		s.Title, s.Message, s.Final = c.PaidLate, c.PaidLateText, true
	case KindDoubleSpent:
		s.Title, s.Message = c.DoubleSpent, c.DoubleSpentText
	case KindInvalid:
		s.Title, s.Message, s.Final = c.Invalid, c.InvalidText, true
	}
	return s
}

// kindOf maps an invoice to the state its payer sees. An invoice still new
// past its expiry shows as expired before the expiry job has written it.
func kindOf(inv *cryptopay.Invoice, now time.Time) Kind {
	switch inv.Status {
	case cryptopay.StatusSettled:
		return KindPaid
	case cryptopay.StatusInvalid:
		return KindInvalid
	case cryptopay.StatusExpired:
		if inv.Flags&cryptopay.FlagPaidLate != 0 {
			return KindPaidLate
		}
		return KindExpired
	case cryptopay.StatusProcessing:
		if minConfirmations(inv.Payments) > 0 {
			return KindConfirming
		}
		return KindMempool
	}
	switch {
	case inv.Flags&cryptopay.FlagDoubleSpent != 0:
		return KindDoubleSpent
	case !now.Before(inv.ExpiresAt):
		return KindExpired
	case inv.AmountPaid != nil && inv.AmountPaid.Sign() > 0:
		return KindPartial
	}
	return KindWaiting
}

// minConfirmations is the confirmation count of the least confirmed payment
// the invoice counts: the invoice is as confirmed as its weakest part.
func minConfirmations(ps []cryptopay.Payment) int {
	n, found := int64(0), false
	for _, p := range ps {
		if !p.Status.Counted() {
			continue // conflicted, double spent, replaced, held or outside the window
		}
		if !found || p.Confirmations < n {
			n, found = p.Confirmations, true
		}
	}
	return int(max(n, 0))
}

// paymentURI returns the BIP21 URI paying amount (base units) to address.
// The amount is in whole coins without trailing zeros, as BIP21 writes it.
func paymentURI(n cryptopay.Network, address string, amount *big.Int, decimals int) string {
	a := cryptopay.FormatAmount(amount, decimals)
	if strings.Contains(a, ".") {
		a = strings.TrimRight(strings.TrimRight(a, "0"), ".")
	}
	return n.URIScheme() + ":" + address + "?" + url.Values{"amount": {a}}.Encode()
}
