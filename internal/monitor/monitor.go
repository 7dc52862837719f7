// Package monitor holds the security guide's payment monitoring rules as
// pure functions: when a sending address is blocked after repeated failed
// payments, when a payment or a settlement is high-value, and what counts
// as unusual activity. It decides; it does not count, store or send.
//
// The chain watcher feeds it the counts it reads inside its block
// transaction and acts on the findings (block rows, audit entries, events,
// alerts). The rules are deliberately simple and documented here, so an
// operator can predict every alert:
//
//   - Failed payments. A failure is a payment a mined conflict took away
//     (double spent in the best chain): never a fee bump that still pays
//     the invoice, a slow confirmation, an underpayment or an invoice the
//     clock expired or invalidated. Failures are counted per (network,
//     sending address) over a sliding window (24 h by default). When the
//     count exceeds the limit (5 by default, as in the guide's
//     monitorFailedPayments) the address is blocked: its later payments are
//     recorded but held, never credited automatically.
//   - High value. A payment detected, or an invoice settled, worth at least
//     the threshold (10000.00 by default, in the store's confirmation
//     policy currency) raises an alert naming the invoice, order, amount and
//     sending address. A value that cannot be expressed in the policy
//     currency (no rate) raises nothing.
//   - Unusual activity. One sending address paying more than K distinct
//     invoices within an hour (10 by default), or one invoice receiving
//     more than M payments (5 by default). Each alerts once, when the count
//     first crosses the limit.
//
// It imports only the standard library and the domain package.
package monitor

import (
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
)

// SystemActor is the audit actor of blocks the rules decide.
const SystemActor = "system"

// Audit actions recorded for blocks and unblocks.
const (
	AuditAddressBlocked   = "address.blocked"
	AuditAddressUnblocked = "address.unblocked"
)

// ReasonDoubleSpent is the one failure reason: a transaction spending the
// payment's inputs was mined in the best chain, so the money was taken
// away. Fee bumps, slow confirmations, underpayments and expired or
// invalid invoices are never failures: honest customers (and exchanges
// sharing one sending address among many) cause them.
const ReasonDoubleSpent = "double_spent"

// Rules are the thresholds. The zero value of a field takes its default
// (see Defaults); a negative limit disables that rule.
type Rules struct {
	// FailureLimit: an address with more failures than this within
	// FailureWindow is blocked (default 5).
	FailureLimit  int
	FailureWindow time.Duration // default 24h
	// HighValue is a decimal threshold in the store's confirmation policy
	// currency (default "10000.00"); "off" disables the rule. Parse it
	// with ParseHighValue.
	HighValue string
	// AddressInvoices: alert when one address pays more than this many
	// distinct invoices within AddressWindow (default 10 per hour).
	AddressInvoices int
	AddressWindow   time.Duration
	// InvoicePayments: alert when one invoice receives more than this many
	// payments (default 5).
	InvoicePayments int
}

// Defaults returns the guide's thresholds.
func Defaults() Rules {
	return Rules{FailureLimit: 5, FailureWindow: 24 * time.Hour, HighValue: "10000.00",
		AddressInvoices: 10, AddressWindow: time.Hour, InvoicePayments: 5}
}

// WithDefaults fills zero fields from Defaults.
func (r Rules) WithDefaults() Rules {
	d := Defaults()
	if r.FailureLimit == 0 {
		r.FailureLimit = d.FailureLimit
	}
	if r.FailureWindow <= 0 {
		r.FailureWindow = d.FailureWindow
	}
	if r.HighValue == "" {
		r.HighValue = d.HighValue
	}
	if r.AddressInvoices == 0 {
		r.AddressInvoices = d.AddressInvoices
	}
	if r.AddressWindow <= 0 {
		r.AddressWindow = d.AddressWindow
	}
	if r.InvoicePayments == 0 {
		r.InvoicePayments = d.InvoicePayments
	}
	return r
}

// highValueDecimals is the precision thresholds are parsed at: finer than
// any fiat currency, so comparisons in minor units stay exact.
const highValueDecimals = 8

// ParseHighValue validates a high-value threshold: a positive decimal with
// at most eight decimals, or "off". It returns a *cryptopay.Error naming
// param for anything else.
func ParseHighValue(param, s string) error {
	if strings.EqualFold(s, "off") {
		return nil
	}
	v, err := cryptopay.ParseAmount(param, s, highValueDecimals)
	if err != nil {
		return err
	}
	if v.Sign() <= 0 {
		return cryptopay.Invalid(param, "%s must be positive, or off.", param)
	}
	return nil
}

// ShouldBlock reports whether an address with failures failed payments in
// the window is blocked: more than the limit, as in the guide.
func (r Rules) ShouldBlock(failures int) bool {
	r = r.WithDefaults()
	return r.FailureLimit > 0 && failures > r.FailureLimit
}

// IsHighValue reports whether value (minor units of cur) is at or above
// the threshold. A nil value (unknown), a disabled rule or a malformed
// threshold is never high-value.
func (r Rules) IsHighValue(value *big.Int, cur cryptopay.Currency) bool {
	r = r.WithDefaults()
	if value == nil || strings.EqualFold(r.HighValue, "off") {
		return false
	}
	limit, err := cryptopay.ParseAmount("high_value", r.HighValue, highValueDecimals)
	if err != nil || cur.Decimals > highValueDecimals {
		return false
	}
	// value / 10^dec >= limit / 10^8  ⇔  value·10^(8-dec) >= limit
	scaled := new(big.Int).Mul(value, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(highValueDecimals-cur.Decimals)), nil))
	return scaled.Cmp(limit) >= 0
}

// AddressBurst reports whether distinct, the number of invoices one address
// paid within the window counting the payment just seen, has just crossed
// the limit: true once, at limit+1.
func (r Rules) AddressBurst(distinct int) bool {
	r = r.WithDefaults()
	return r.AddressInvoices > 0 && distinct == r.AddressInvoices+1
}

// PaymentBurst reports whether payments, the number of payments an invoice
// has counting the one just seen, has just crossed the limit: true once.
func (r Rules) PaymentBurst(payments int) bool {
	r = r.WithDefaults()
	return r.InvoicePayments > 0 && payments == r.InvoicePayments+1
}

// Value expresses units of inv's asset in minor units of cur, exactly
// (rounded down). An invoice priced in cur values them pro rata at its own
// price; otherwise rate (one whole asset unit in cur) is used. It reports
// false when neither is available.
func Value(inv *cryptopay.Invoice, units *big.Int, cur cryptopay.Currency, rate *big.Rat) (*big.Int, bool) {
	if units == nil || cur.Crypto {
		return nil, false // policies are priced in fiat
	}
	if inv.Currency == cur.Code && inv.Amount != nil && inv.CryptoDue != nil && inv.CryptoDue.Sign() > 0 {
		v := new(big.Int).Mul(inv.Amount, units)
		return v.Quo(v, inv.CryptoDue), true
	}
	asset, ok := cryptopay.LookupCurrency(inv.Asset)
	if rate == nil || !ok {
		return nil, false
	}
	return cryptopay.FiatValue(units, asset, rate, cur), true
}

// Finding is one thing an operator must see.
type Finding struct {
	Title string
	Text  string
}

// HighValuePayment describes a high-value payment.
func HighValuePayment(inv *cryptopay.Invoice, p *cryptopay.Payment, value *big.Int, cur cryptopay.Currency) Finding {
	return Finding{Title: "High-value payment",
		Text: fmt.Sprintf("Invoice %s (order %s) received %s %s worth %s %s from %s (tx %s:%d).",
			inv.ID, inv.OrderID, assetAmount(inv, p.Amount), inv.Asset, cryptopay.FormatAmount(value, cur.Decimals), cur.Code,
			orUnknown(p.FromAddress), p.TxID, p.Vout)}
}

// HighValueSettlement describes a high-value invoice that settled.
func HighValueSettlement(inv *cryptopay.Invoice, value *big.Int, cur cryptopay.Currency, from string) Finding {
	return Finding{Title: "High-value invoice settled",
		Text: fmt.Sprintf("Invoice %s (order %s) settled for %s %s (%s %s) from %s.",
			inv.ID, inv.OrderID, cryptopay.FormatAmount(value, cur.Decimals), cur.Code,
			assetAmount(inv, inv.AmountConfirmed), inv.Asset, orUnknown(from))}
}

// Blocked describes an address just blocked.
func Blocked(network cryptopay.Network, address string, failures int, window time.Duration, inv *cryptopay.Invoice) Finding {
	return Finding{Title: "Sending address blocked",
		Text: fmt.Sprintf("Address %s on %s was blocked after %d failed payments within %s (the last on invoice %s, order %s). Its payments are now held, not credited. `cryptopay addresses unblock` lifts the block.",
			address, network, failures, window, inv.ID, inv.OrderID)}
}

// Held describes a payment held because its sender is blocked.
func Held(inv *cryptopay.Invoice, p *cryptopay.Payment) Finding {
	return Finding{Title: "Payment from a blocked address held",
		Text: fmt.Sprintf("Invoice %s (order %s): payment %s:%d of %s %s from blocked address %s is recorded but not credited. Review it before shipping anything.",
			inv.ID, inv.OrderID, p.TxID, p.Vout, assetAmount(inv, p.Amount), inv.Asset, p.FromAddress)}
}

// AddressBurstFinding describes an address paying many invoices.
func AddressBurstFinding(network cryptopay.Network, address string, distinct int, window time.Duration, inv *cryptopay.Invoice) Finding {
	return Finding{Title: "Unusual activity: one address paying many invoices",
		Text: fmt.Sprintf("Address %s on %s paid %d distinct invoices within %s (the latest %s, order %s).",
			address, network, distinct, window, inv.ID, inv.OrderID)}
}

// PaymentBurstFinding describes an invoice receiving many payments.
func PaymentBurstFinding(inv *cryptopay.Invoice, payments int) Finding {
	return Finding{Title: "Unusual activity: many payments to one invoice",
		Text: fmt.Sprintf("Invoice %s (order %s) has received %d separate payments.", inv.ID, inv.OrderID, payments)}
}

func assetAmount(inv *cryptopay.Invoice, v *big.Int) string {
	a, _ := cryptopay.LookupCurrency(inv.Asset)
	if v == nil {
		v = new(big.Int)
	}
	return cryptopay.FormatAmount(v, a.Decimals)
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown address"
	}
	return s
}
