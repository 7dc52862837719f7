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

// The states of the checkout page. Each agrees with the API: the comment
// names the invoice status (and flags) it shows.
const (
	KindWaiting        Kind = "waiting"         // new, nothing paid
	KindPartial        Kind = "partial"         // new, part paid: pay the rest
	KindDoubleSpent    Kind = "double_spent"    // new, flag double_spent: a payment was reversed, due again
	KindConflicted     Kind = "conflicted"      // new, a payment replaced in the mempool: not counted, due again
	KindHeld           Kind = "held"            // new or expired, flag held: a payment waits for the shop's review
	KindMempool        Kind = "mempool"         // processing, no confirmation yet
	KindConfirming     Kind = "confirming"      // processing, confirming
	KindReorged        Kind = "reorged"         // processing, flag reorged: confirming again after a reorg
	KindPaid           Kind = "paid"            // settled
	KindOverpaid       Kind = "overpaid"        // settled, flag paid_over
	KindExpired        Kind = "expired"         // expired, nothing received
	KindExpiredPartial Kind = "expired_partial" // expired, flag paid_partial: part received in time
	KindPaidLate       Kind = "paid_late"       // expired, flag paid_late
	KindOutsideWindow  Kind = "outside_window"  // expired or invalid, flag outside_window: money after the window
	KindInvalid        Kind = "invalid"         // invalid: paid, not confirmed within the monitoring window
	KindClosed         Kind = "closed"          // invalid, flag marked: closed by the shop
)

// State is what the page shows and what each server-sent event carries. It
// holds only what the payer needs: never metadata or the customer
// reference. Amounts ending in "Text" are formatted for the payer's
// language; the others are plain decimals a wallet accepts.
type State struct {
	Kind     Kind     `json:"state"`
	Status   string   `json:"status"` // the invoice's base status, as the API says it
	Flags    []string `json:"flags"`  // the invoice's flags, as the API says them
	Title    string   `json:"title"`
	Message  string   `json:"message"`
	Estimate string   `json:"estimate,omitempty"` // time left to the required confirmations
	Help     bool     `json:"help"`               // the payer should contact the shop
	// ExchangeWarning warns that an exchange may deduct its fee, shown when
	// the store accepts no shortfall and the invoice is payable.
	ExchangeWarning string `json:"exchange_warning,omitempty"`
	Asset           string `json:"asset"`
	// Network names the chain to pay on, and Warning says plainly that
	// the same asset sent on another chain does not pay this invoice.
	Network       string `json:"network"`
	Warning       string `json:"warning,omitempty"`
	Address       string `json:"address"`
	AmountDue     string `json:"amount_due"`  // the whole crypto amount, decimal (the API's crypto_amount)
	AmountPaid    string `json:"amount_paid"` // seen and counted (the API's amount_paid)
	Remaining     string `json:"remaining"`   // still to pay (the API's amount_due); "0.00000000" once paid
	DueText       string `json:"due_text"`
	PaidText      string `json:"paid_text"`
	Price         string `json:"price"` // "65.00 USD" in the payer's language; "" when priced in the asset
	Confirmations int    `json:"confirmations"`
	Required      int    `json:"required_confirmations"`
	URI           string `json:"uri"`    // BIP21 URI for the remaining amount, exact
	QRURL         string `json:"qr_url"` // the QR code of URI
	Payable       bool   `json:"payable"`
	// Unavailable is the notice shown during an incident freeze (live
	// invoices): Payable is then false and Address, URI and QRURL empty.
	Unavailable string        `json:"unavailable,omitempty"`
	Final       bool          `json:"final"` // no further change is expected; the stream ends
	ExpiresAt   string        `json:"expires_at"`
	ExpiresIn   int64         `json:"expires_in"` // whole seconds from when the state was computed
	RedirectURL string        `json:"redirect_url,omitempty"`
	Payments    []PaymentLine `json:"payments"`
	Receipt     *Receipt      `json:"receipt,omitempty"` // on a paid invoice
}

// PaymentLine is one payment to the invoice's address as the payer sees
// it: counted or not, and why.
type PaymentLine struct {
	TxID    string `json:"txid"`
	URL     string `json:"url,omitempty"` // the block explorer's page; "" without one
	Amount  string `json:"amount"`        // in the payer's language, with the unit
	Status  string `json:"status"`        // the API's payment status
	Summary string `json:"summary"`       // what that status means, in words
}

// Receipt is what a paid invoice's payer keeps.
type Receipt struct {
	Received string `json:"received"`       // amount with unit, in the payer's language
	Price    string `json:"price"`          // the price paid, "" when priced in the asset
	Rate     string `json:"rate,omitempty"` // "1 BTC = 65,000.00 USD"
	PaidAt   string `json:"paid_at"`        // the settlement time, in the payer's language
}

// view is what a state is computed from besides the invoice.
type view struct {
	c         *Catalogue
	tolerance int    // the store's tolerance in basis points
	explorer  string // the store's explorer template, "" for the default
}

// newState derives the payer's view of inv at now, in the words of v.c.
func newState(inv *cryptopay.Invoice, now time.Time, v view) State {
	c := v.c
	asset, ok := cryptopay.LookupCurrency(inv.Asset) // USDC on an EVM chain, not the chain's ETH
	if !ok {
		asset = inv.Network.Asset()
	}
	remaining := inv.AmountDue()
	amount := func(n *big.Int) string { return c.Number(cryptopay.FormatAmount(n, asset.Decimals)) + " " + asset.Code }
	s := State{
		Status:     string(inv.Status),
		Flags:      inv.Flags.Names(),
		Asset:      asset.Code,
		Network:    string(inv.Network),
		Address:    inv.Address,
		AmountDue:  cryptopay.FormatAmount(inv.CryptoDue, asset.Decimals),
		AmountPaid: cryptopay.FormatAmount(inv.AmountPaid, asset.Decimals),
		Remaining:  cryptopay.FormatAmount(remaining, asset.Decimals),
		DueText:    amount(inv.CryptoDue),
		PaidText:   amount(inv.AmountPaid),
		Required:   inv.RequiredConfirmations,
		ExpiresAt:  inv.ExpiresAt.UTC().Format(time.RFC3339),
		ExpiresIn:  max(int64(inv.ExpiresAt.Sub(now)/time.Second), 0),
		Payments:   []PaymentLine{},
	}
	if cur, ok := cryptopay.LookupCurrency(inv.Currency); ok && !cur.Crypto {
		s.Price = c.Number(cryptopay.FormatAmount(inv.Amount, cur.Decimals)) + " " + cur.Code
	}
	uriAmount := remaining
	if uriAmount.Sign() == 0 {
		uriAmount = inv.CryptoDue
	}
	s.URI = paymentURI(inv.Network, inv.Address, uriAmount, asset.Decimals)
	s.QRURL = "/pay/" + inv.ID + "/qr.svg?amount=" + cryptopay.FormatAmount(uriAmount, asset.Decimals)

	// Money that reached the address but does not count, by why.
	notCounted := map[cryptopay.PaymentStatus]*big.Int{}
	for _, p := range inv.Payments {
		line := PaymentLine{TxID: p.TxID, URL: cryptopay.TxURL(v.explorer, inv.Network, p.TxID),
			Amount: amount(p.Amount), Status: string(p.Status), Summary: c.PaymentStatus[string(p.Status)]}
		if !p.SameAsset(inv) { // a wrong_asset payment, in its own asset's units
			code, _ := p.Unit(inv)
			line.Amount = strings.TrimSpace(c.Number(p.AmountIn(inv)) + " " + code)
		}
		if p.Status == cryptopay.PaymentPending && p.Confirmations > 0 {
			line.Summary = fmt.Sprintf(c.PaymentPending, p.Confirmations)
		}
		s.Payments = append(s.Payments, line)
		if !p.Status.Counted() && p.Status != cryptopay.PaymentReplaced {
			if notCounted[p.Status] == nil {
				notCounted[p.Status] = new(big.Int)
			}
			notCounted[p.Status].Add(notCounted[p.Status], p.Amount)
		}
	}
	sum := func(sts ...cryptopay.PaymentStatus) string {
		t := new(big.Int)
		for _, st := range sts {
			if n := notCounted[st]; n != nil {
				t.Add(t, n)
			}
		}
		return amount(t)
	}

	s.Kind = kindOf(inv, now, notCounted)
	switch s.Kind {
	case KindWaiting:
		s.Title, s.Message, s.Payable = c.Waiting, c.WaitingText, true
	case KindPartial:
		s.Title, s.Message, s.Payable = c.Partial, fmt.Sprintf(c.PartialText, s.PaidText, amount(remaining)), true
	case KindDoubleSpent:
		s.Title, s.Message, s.Payable = c.DoubleSpent, fmt.Sprintf(c.DoubleSpentText, sum(cryptopay.PaymentDoubleSpent, cryptopay.PaymentConflicted), amount(remaining)), true
	case KindConflicted:
		s.Title, s.Message, s.Payable = c.Conflicted, fmt.Sprintf(c.ConflictedText, sum(cryptopay.PaymentConflicted), amount(remaining)), true
	case KindHeld:
		s.Title, s.Message = c.Held, fmt.Sprintf(c.HeldText, sum(cryptopay.PaymentHeld))
	case KindMempool:
		s.Title, s.Message = c.Mempool, c.MempoolText
	case KindConfirming:
		s.Confirmations = minConfirmations(inv.Payments)
		s.Title, s.Message = c.Confirming, fmt.Sprintf(c.ConfirmingText, s.Confirmations, s.Required)
	case KindReorged:
		s.Confirmations = minConfirmations(inv.Payments)
		s.Title, s.Message = c.Reorged, fmt.Sprintf(c.ReorgedText, s.Confirmations, s.Required)
	case KindPaid:
		text := c.PaidText
		switch {
		case inv.Flags&cryptopay.FlagMarked != 0:
			text = c.PaidMarkedText
		case inv.Flags&cryptopay.FlagConfirmedLate != 0:
			text = c.PaidConfirmedLateText
		}
		s.Title, s.Message = c.Paid, fmt.Sprintf(text, s.PaidText)
	case KindOverpaid:
		over := new(big.Int).Sub(inv.AmountPaid, inv.CryptoDue)
		s.Title, s.Message = c.Overpaid, fmt.Sprintf(c.OverpaidText, s.PaidText, s.DueText, amount(over))
	case KindExpired:
		s.Title, s.Message = c.Expired, c.ExpiredText
	case KindExpiredPartial:
		s.Title, s.Message = c.ExpiredPartial, fmt.Sprintf(c.ExpiredPartialText, s.PaidText, s.DueText)
	case KindPaidLate:
		s.Title, s.Message = c.PaidLate, fmt.Sprintf(c.PaidLateText, s.PaidText)
	case KindOutsideWindow:
		s.Title, s.Message = c.OutsideWindow, fmt.Sprintf(c.OutsideWindowText, sum(cryptopay.PaymentOutsideWindow))
	case KindInvalid:
		s.Title, s.Message = c.Invalid, fmt.Sprintf(c.InvalidText, s.PaidText)
	case KindClosed:
		s.Title, s.Message = c.Closed, c.ClosedText
	}
	if s.Payable && v.tolerance == 0 {
		s.ExchangeWarning = fmt.Sprintf(c.ExchangeWarning, amount(remaining))
	}
	switch s.Kind {
	case KindWaiting, KindPartial, KindMempool, KindConfirming, KindReorged, KindPaid:
	default:
		s.Help = true
	}
	// Settled and invalid invoices no longer change (short of an operator);
	// an expired one can still learn of late money until its monitoring
	// window ends, and the page should show that as it happens.
	switch inv.Status {
	case cryptopay.StatusSettled, cryptopay.StatusInvalid:
		s.Final = true
	case cryptopay.StatusExpired:
		s.Final = !now.Before(inv.MonitorUntil)
	}
	if s.Kind == KindMempool || s.Kind == KindConfirming || s.Kind == KindReorged {
		if left := s.Required - s.Confirmations; left > 0 {
			every := inv.Network.BlockInterval()
			s.Estimate = fmt.Sprintf(c.Estimate, left, c.Duration(time.Duration(left)*every), c.Duration(every))
		}
	}
	if inv.Status == cryptopay.StatusSettled {
		s.Confirmations = s.Required
		s.RedirectURL = inv.RedirectURL
		r := &Receipt{Received: s.PaidText, Price: s.Price}
		if inv.Rate != "" {
			r.Rate = fmt.Sprintf(c.RateValue, asset.Code, c.Number(trimDecimals(inv.Rate, currencyDecimals(inv.Currency)))+" "+inv.Currency)
		}
		if inv.SettledAt != nil {
			r.PaidAt = c.Date(*inv.SettledAt)
		}
		s.Receipt = r
	}
	return s
}

// trimDecimals drops trailing zeros of a decimal string beyond keep
// decimals: "65000.00000000" with 2 is "65000.00", while a rate with more
// precision keeps it, since it is the exact rate used.
func trimDecimals(dec string, keep int) string {
	i := strings.IndexByte(dec, '.')
	if i < 0 {
		return dec
	}
	for len(dec)-i-1 > keep && dec[len(dec)-1] == '0' {
		dec = dec[:len(dec)-1]
	}
	return strings.TrimSuffix(dec, ".")
}

func currencyDecimals(code string) int {
	if cur, ok := cryptopay.LookupCurrency(code); ok {
		return cur.Decimals
	}
	return 0
}

// kindOf maps an invoice to the state its payer sees. An invoice still new
// past its expiry shows as expired before the settlement loop writes it.
// notCounted holds the money that reached the address without counting,
// by payment status.
func kindOf(inv *cryptopay.Invoice, now time.Time, notCounted map[cryptopay.PaymentStatus]*big.Int) Kind {
	has := func(f cryptopay.Flag) bool { return inv.Flags&f != 0 }
	paid := inv.AmountPaid != nil && inv.AmountPaid.Sign() > 0
	switch inv.Status {
	case cryptopay.StatusSettled:
		if has(cryptopay.FlagPaidOver) {
			return KindOverpaid
		}
		return KindPaid
	case cryptopay.StatusInvalid:
		if has(cryptopay.FlagMarked) {
			return KindClosed
		}
		return KindInvalid
	case cryptopay.StatusProcessing:
		switch {
		case has(cryptopay.FlagReorged):
			return KindReorged
		case minConfirmations(inv.Payments) > 0:
			return KindConfirming
		}
		return KindMempool
	case cryptopay.StatusExpired:
		switch {
		case has(cryptopay.FlagPaidLate):
			return KindPaidLate
		case notCounted[cryptopay.PaymentHeld] != nil:
			return KindHeld
		case notCounted[cryptopay.PaymentOutsideWindow] != nil:
			return KindOutsideWindow
		case paid:
			return KindExpiredPartial
		}
		return KindExpired
	}
	switch {
	case !now.Before(inv.ExpiresAt) && paid:
		return KindExpiredPartial
	case !now.Before(inv.ExpiresAt):
		return KindExpired
	case notCounted[cryptopay.PaymentHeld] != nil:
		return KindHeld
	case has(cryptopay.FlagDoubleSpent):
		return KindDoubleSpent
	case notCounted[cryptopay.PaymentConflicted] != nil:
		return KindConflicted
	case paid:
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
// The amount is exact, in whole coins without trailing zeros, as BIP21
// writes it, so a wallet (or an exchange's withdrawal form) fills in the
// exact figure.
func paymentURI(n cryptopay.Network, address string, amount *big.Int, decimals int) string {
	a := cryptopay.FormatAmount(amount, decimals)
	if strings.Contains(a, ".") {
		a = strings.TrimRight(strings.TrimRight(a, "0"), ".")
	}
	return n.URIScheme() + ":" + address + "?" + url.Values{"amount": {a}}.Encode()
}
