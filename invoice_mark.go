package cryptopay

import (
	"fmt"
	"time"
)

// Manual resolution: the merchant's decision for the cases no rule can
// decide (an underpayment they accept, money that arrived another way, a
// payment they refunded). As in BTCPay Server, a mark sets the invoice's
// final state by hand and flags it marked; from then on the chain still
// records payments on the invoice but never changes its state.
//
// What may be marked:
//   - settled, from new, processing, expired or invalid;
//   - invalid, from new, processing, expired or settled (a merchant who
//     refunds a settled invoice says so this way).
//
// Marking an invoice with the state it already has changes nothing and is
// refused with CodeInvalidState, so a retried request cannot emit a second
// event.

// MarkableStatus reports whether to is a state an invoice can be marked
// with: settled or invalid.
func MarkableStatus(to Status) bool { return to == StatusSettled || to == StatusInvalid }

// Mark sets inv's status to to (StatusSettled or StatusInvalid) by hand at
// now, flags it marked and returns the event type the change calls for
// (invoice.settled or invoice.invalid). Amounts and payments are kept as
// they are. It returns a CodeInvalidState error, leaving inv unchanged,
// when inv already has that status, and panics on any other to (a
// programming error: callers check MarkableStatus).
func (inv *Invoice) Mark(to Status, now time.Time) (EventType, error) {
	if !MarkableStatus(to) {
		panic(fmt.Sprintf("cryptopay: Mark(%q): only settled or invalid can be marked", to))
	}
	if inv.Status == to {
		return "", &Error{Code: CodeInvalidState, Param: "status",
			Message: fmt.Sprintf("Invoice %s is already %s.", inv.ID, to)}
	}
	inv.Status = to
	inv.Flags |= FlagMarked
	if to == StatusSettled {
		t := now
		inv.SettledAt = &t
		return EventInvoiceSettled, nil
	}
	inv.SettledAt = nil
	return EventInvoiceInvalid, nil
}

// Marked reports whether an operator or the shop set the invoice's state
// by hand. The settlement loop then records payments but leaves the state
// alone.
func (inv *Invoice) Marked() bool { return inv.Flags&FlagMarked != 0 }

// NewMarkEvent builds the event of a manual resolution: invoice.settled or
// invoice.invalid (the type a shop already keys fulfilment on) with
// data.marked true and the reason given, so a receiver can tell a decision
// by hand from one the chain made.
func NewMarkEvent(typ EventType, inv *Invoice, reason string, now time.Time) Event {
	d := invoiceEventData(inv, nil)
	d.Marked, d.Reason = true, reason
	return newInvoiceEvent(typ, inv, d, now)
}
