package cryptopay

import (
	"math/big"
	"strings"
	"time"
)

// Status is an invoice's base state: new → processing → settled, or
// expired / invalid.
type Status string

// Invoice states.
const (
	StatusNew        Status = "new"        // waiting for payment
	StatusProcessing Status = "processing" // paid in full, waiting for confirmations
	StatusSettled    Status = "settled"    // paid in full with the required confirmations
	StatusExpired    Status = "expired"    // not paid in full before it expired
	StatusInvalid    Status = "invalid"    // payment did not confirm within the monitoring window
)

// ParseStatus validates a status filter.
func ParseStatus(param, s string) (Status, error) {
	switch st := Status(s); st {
	case StatusNew, StatusProcessing, StatusSettled, StatusExpired, StatusInvalid:
		return st, nil
	}
	return "", Invalid(param, "%s %q is not a status; use new, processing, settled, expired or invalid.", param, s)
}

// Flag qualifies an invoice's state. Flags record history and accumulate:
// once set, a flag stays, even when what caused it was undone (a double
// spend whose conflict left the chain keeps double_spent). The one
// exception is paid_partial, which describes the amount paid now and is
// cleared once the invoice is paid in full.
type Flag uint16

// Invoice flags.
const (
	FlagPaidPartial   Flag = 1 << iota // less than due has been paid
	FlagPaidOver                       // more than due has been paid
	FlagPaidLate                       // a payment arrived after expiry
	FlagDoubleSpent                    // a payment was double spent
	FlagReorged                        // a payment the invoice counted left the best chain
	FlagMarked                         // an operator changed the state by hand
	FlagHeld                           // a payment came from a blocked address and is held, not credited
	FlagConfirmedLate                  // settled by money that was on time but confirmed after the monitoring window
	FlagOutsideWindow                  // money reached the address after the monitoring window; recorded, not credited
	FlagWrongAsset                     // another asset than the invoice's reached its address (ETH to a USDC invoice); recorded, not credited
)

var flagNames = []struct {
	f    Flag
	name string
}{
	{FlagPaidPartial, "paid_partial"},
	{FlagPaidOver, "paid_over"},
	{FlagPaidLate, "paid_late"},
	{FlagDoubleSpent, "double_spent"},
	{FlagReorged, "reorged"},
	{FlagMarked, "marked"},
	{FlagHeld, "held"},
	{FlagConfirmedLate, "confirmed_late"},
	{FlagOutsideWindow, "outside_window"},
	{FlagWrongAsset, "wrong_asset"},
}

// Names returns the set flags' names in a fixed order; never nil.
func (f Flag) Names() []string {
	out := []string{}
	for _, n := range flagNames {
		if f&n.f != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

func (f Flag) String() string { return strings.Join(f.Names(), ",") }

// Invoice is a payment order: a price set by the shop, the crypto amount
// due, and the deposit address it must be paid to.
type Invoice struct {
	ID                    string
	StoreID               string
	Livemode              bool
	OrderID               string
	Amount                *big.Int // the price, minor units of Currency
	AmountText            string   // the price exactly as the shop sent it ("0.0015"); "" if stored before it was kept
	Currency              string
	Network               Network
	Asset                 string     // "BTC", "ETH", "USDC", "USDT"
	CryptoDue             *big.Int   // base units of Asset
	Rate                  string     // decimal price of one Asset in Currency used (after the spread); "" when priced in Asset
	RateSources           []string   // the providers whose median Rate is, or "static"; nil when priced in Asset
	RateAt                *time.Time // the oldest price Rate rests on; nil when priced in Asset
	RateSpreadBasisPoints int        // the store's spread applied to the market rate, in 1/100 %
	Address               string
	AddressIndex          uint32
	Status                Status
	Flags                 Flag
	AmountPaid            *big.Int // base units seen paying the invoice (not double spent)
	AmountConfirmed       *big.Int // base units with the required confirmations
	RequiredConfirmations int
	CustomerReference     string
	Metadata              map[string]string
	RedirectURL           string
	CreatedAt             time.Time
	ExpiresAt             time.Time
	MonitorUntil          time.Time // late payments are watched until then
	SettledAt             *time.Time
	Payments              []Payment // filled on reads that ask for them
}

// AmountString returns the price as the API and every event show it: the
// exact string the shop sent, so a shop comparing it with its own order by
// string equality (the security guide's validatePayment) accepts it. An
// invoice stored before the text was kept shows AmountNormalized.
func (inv *Invoice) AmountString() string {
	if inv.AmountText != "" {
		return inv.AmountText
	}
	return inv.AmountNormalized()
}

// AmountNormalized returns the price with exactly the currency's decimals
// ("0.00150000" for BTC, "100.00" for USD).
func (inv *Invoice) AmountNormalized() string {
	cur, _ := LookupCurrency(inv.Currency)
	return FormatAmount(inv.Amount, cur.Decimals)
}

// AmountDue returns what remains to be paid in base units, never negative.
func (inv *Invoice) AmountDue() *big.Int {
	d := new(big.Int).Sub(inv.CryptoDue, inv.AmountPaid)
	if d.Sign() < 0 {
		d.SetInt64(0)
	}
	return d
}

// Open reports whether the invoice can still change because of a payment.
func (inv *Invoice) Open(now time.Time) bool {
	switch inv.Status {
	case StatusSettled, StatusInvalid:
		return false
	}
	return now.Before(inv.MonitorUntil)
}

// Payment is one output paying an invoice's address.
type Payment struct {
	ID        string
	InvoiceID string
	TxID      string
	Vout      uint32   // output index on Bitcoin; on EVM chains 0 for ether, 1+ the log's position in its transaction for a token transfer
	Amount    *big.Int // base units of Asset
	// Asset is the code of what was paid ("ETH", "USDC", "POL") as the
	// watcher saw it, and Decimals the places of its base units (18 for
	// ether, 6 for USDC): both are stored with the payment, so a
	// wrong_asset payment reads back in its own units, not the invoice's.
	// A payment with neither (built in memory without them) is in the
	// invoice's asset; see Unit.
	Asset         string
	Decimals      int
	BlockHash     string // "" while unconfirmed
	BlockHeight   int64
	Confirmations int64
	RBF           bool
	FromAddress   string
	Status        PaymentStatus
	ConflictTxID  string // the transaction that double spent, displaced or replaced this one, if any
	// SeenAt is when the payment was first seen: by the watcher in the
	// mempool, or its block's header time if it was first seen mined. It
	// decides whether the payment was on time.
	SeenAt      time.Time
	ConfirmedAt *time.Time
	// ReleasedAt and ReleasedBy are set when an operator released the
	// payment after it was held (its sender was blocked): from then on it
	// is tracked and credited like any other payment. Nil and "" otherwise.
	ReleasedAt *time.Time
	ReleasedBy string
}

// PaymentStatus is the state of one payment.
type PaymentStatus string

// Payment states. Only pending, confirmed and reorged payments count
// towards what the invoice has been paid; the others are recorded and
// shown, never credited.
const (
	PaymentPending   PaymentStatus = "pending"   // seen, not yet with enough confirmations
	PaymentConfirmed PaymentStatus = "confirmed" // enough confirmations on the best chain; credited
	// PaymentDoubleSpent: a transaction spending the same inputs is in a
	// block of the best chain. Not credited while that block stays there;
	// the payment is reinstated if it leaves or this payment is mined.
	PaymentDoubleSpent PaymentStatus = "double_spent"
	// PaymentConflicted: a transaction spending the same inputs replaced it
	// in the mempool (or the node dropped it). A hint, not a fact of the
	// chain: not counted, reinstated if it is seen again or mined.
	PaymentConflicted PaymentStatus = "conflicted"
	// PaymentReplaced: replaced by a transaction (a fee bump) that pays
	// the same invoice at least as much; that one is the payment now.
	PaymentReplaced PaymentStatus = "replaced"
	PaymentReorged  PaymentStatus = "reorged" // its block left the best chain; counted, waiting to be mined again
	// PaymentHeld: sent from an address blocked after repeated failed
	// payments. Recorded and tracked, never credited automatically; an
	// operator reviews it and may release it (Invoice.ReleasePayment),
	// after which it is tracked and credited like any other payment.
	PaymentHeld PaymentStatus = "held"
	// PaymentOutsideWindow: first seen after the invoice's monitoring
	// window ended. Recorded and alerted, never credited.
	PaymentOutsideWindow PaymentStatus = "outside_window"
	// PaymentWrongAsset: another asset than the invoice's reached its
	// address (ether sent to a USDC invoice's address, or USDT to a USDC
	// one). Recorded and alerted, never credited: a different asset is not
	// worth what was asked.
	PaymentWrongAsset PaymentStatus = "wrong_asset"
	// PaymentInternalTransfer: money the sweep found at an EVM deposit
	// address beyond every transfer recorded there, typically ether sent
	// by a contract (a smart-contract wallet, an exchange's batch payout):
	// an internal transfer, which no transaction to the address shows.
	// Recorded with its event before the sweep moves it, so nothing that
	// reached the address is lost, and never credited automatically:
	// sweeping does not change invoice state. An operator decides.
	PaymentInternalTransfer PaymentStatus = "internal_transfer"
)

// Unit returns the asset code and decimals the payment's amount is in: its
// own as recorded, or the invoice's for a payment recorded with neither.
// The code is "" only for a payment from before assets were stored whose
// token could not be told (see migration 0018): its decimals are still
// right.
func (p *Payment) Unit(inv *Invoice) (asset string, decimals int) {
	switch {
	case p.Asset == "" && p.Decimals == 0:
		d, _ := inv.Network.AssetDecimals(inv.Asset)
		return inv.Asset, d
	case p.Decimals == 0: // no asset has 0 decimals: not given, so the asset's own
		d, _ := inv.Network.AssetDecimals(p.Asset)
		return p.Asset, d
	}
	return p.Asset, p.Decimals
}

// AmountIn returns the payment's amount as a decimal string in its own
// asset's units (see Unit).
func (p *Payment) AmountIn(inv *Invoice) string {
	_, d := p.Unit(inv)
	return FormatAmount(p.Amount, d)
}

// SameAsset reports whether the payment is in the invoice's asset, so its
// amount compares with (and is valued at the rate of) the invoice's.
func (p *Payment) SameAsset(inv *Invoice) bool {
	a, _ := p.Unit(inv)
	return a == inv.Asset
}

// Counted reports whether the payment counts towards the amount paid.
func (s PaymentStatus) Counted() bool {
	switch s {
	case PaymentPending, PaymentConfirmed, PaymentReorged:
		return true
	}
	return false
}
