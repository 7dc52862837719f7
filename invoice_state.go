package cryptopay

import (
	"math/big"
	"time"
)

// The invoice state machine. An invoice's state is derived from its
// payments and the clock, never patched field by field: Advance recomputes
// it and reports which events the change calls for. The caller writes the
// invoice, its payments and those events in one transaction.

// Change is one event an invoice transition calls for, optionally about a
// payment.
type Change struct {
	Type    EventType
	Payment *Payment
}

// Advance recomputes inv's amounts, status and flags from payments (all of
// the invoice's payments, after the caller applied what it observed) at
// time now, with the store's tolerance in basis points. It updates inv in
// place and returns the invoice-level events in the order they happened.
// Payment-level events (payment_detected, confirmations_changed,
// double_spent, reinstated, ...) are the caller's, who knows what it
// observed.
//
// now is the time as the caller has observed the chain: the settlement
// loop passes the time of its last complete pass over the node, so nothing
// expires on time the chain was not watched.
//
// The rules:
//   - Paid counts the pending, confirmed and reorged payments (see
//     PaymentStatus.Counted); confirmed counts those with the required
//     confirmations. Double spent, conflicted, replaced, held and
//     outside-window payments are recorded and flagged, never counted.
//   - A new invoice is paid by money first seen before it expired: paid
//     within tolerance of the amount due on time makes it processing, and
//     confirmed within tolerance settled. Never settled on unconfirmed
//     money.
//   - A processing or settled invoice follows the counted money: a settled
//     one whose confirmed amount drops below what is due (a counted payment
//     really left the best chain) goes back to processing and is flagged
//     reorged; one whose paid amount drops (a conflict took money away)
//     goes back to new, and expires if its time has passed.
//   - Unpaid (or partly paid) at expiry: expired. Money first seen after
//     expiry is flagged paid_late and the invoice stays expired: the
//     merchant decides, nothing settles silently.
//   - Processing when the monitoring window ends: invalid. If the money
//     that was on time confirms afterwards, the invoice is settled with the
//     flag confirmed_late: confirmed money on its address is never
//     invisible.
//   - An invoice an operator resolved by hand (flag marked) keeps its
//     status and calls for no invoice-level event; its amounts and flags
//     still follow the payments.
func (inv *Invoice) Advance(payments []Payment, now time.Time, toleranceBP int) []Change {
	var changes []Change
	emit := func(t EventType) { changes = append(changes, Change{Type: t}) }

	paid, confirmed, onTime := new(big.Int), new(big.Int), new(big.Int)
	late := false
	flags := inv.Flags
	for i := range payments {
		p := &payments[i]
		switch p.Status {
		case PaymentDoubleSpent:
			flags |= FlagDoubleSpent
		case PaymentHeld:
			flags |= FlagHeld
		case PaymentOutsideWindow:
			flags |= FlagOutsideWindow
		case PaymentWrongAsset:
			flags |= FlagWrongAsset
		case PaymentReorged:
			flags |= FlagReorged
		case PaymentConfirmed:
			confirmed.Add(confirmed, p.Amount)
		}
		if !p.Status.Counted() {
			continue
		}
		paid.Add(paid, p.Amount)
		if !p.SeenAt.Before(inv.ExpiresAt) { // on time means first seen before expires_at
			late = true
		} else {
			onTime.Add(onTime, p.Amount)
		}
	}
	inv.AmountPaid, inv.AmountConfirmed = paid, confirmed

	threshold := inv.threshold(toleranceBP)
	before := inv.Status

	switch {
	case paid.Sign() > 0 && paid.Cmp(threshold) < 0:
		flags |= FlagPaidPartial
	case paid.Cmp(threshold) >= 0:
		flags &^= FlagPaidPartial
	}
	if paid.Cmp(inv.CryptoDue) > 0 {
		flags |= FlagPaidOver
	}
	if late {
		flags |= FlagPaidLate
	}
	paidInFull := paid.Cmp(threshold) >= 0
	settles := paidInFull && confirmed.Cmp(threshold) >= 0

	switch {
	case flags&FlagMarked != 0:
		// Resolved by hand: the operator's decision stands.
	case inv.Status == StatusNew || inv.Status == StatusExpired:
		// Expired stays expired on late money; money that was on time
		// (first seen mined in a block older than the expiry, say) still
		// pays it.
		switch {
		case onTime.Cmp(threshold) >= 0 && settles:
			inv.Status = StatusSettled
		case onTime.Cmp(threshold) >= 0:
			inv.Status = StatusProcessing
		case !now.Before(inv.ExpiresAt):
			inv.Status = StatusExpired
		}
	case inv.Status == StatusProcessing || inv.Status == StatusSettled:
		switch {
		case settles:
			inv.Status = StatusSettled
		case paidInFull:
			inv.Status = StatusProcessing
		case !now.Before(inv.ExpiresAt):
			inv.Status = StatusExpired
		default:
			inv.Status = StatusNew
		}
		if before == StatusSettled && inv.Status != StatusSettled {
			flags |= FlagReorged
		}
		if inv.Status == StatusProcessing && !now.Before(inv.MonitorUntil) {
			inv.Status = StatusInvalid
		}
	case inv.Status == StatusInvalid:
		if settles {
			inv.Status = StatusSettled
			flags |= FlagConfirmedLate
		}
	}

	if inv.Status == StatusSettled && inv.SettledAt == nil {
		t := now
		inv.SettledAt = &t
	}
	if inv.Status != StatusSettled {
		inv.SettledAt = nil
	}

	newFlags := flags &^ inv.Flags
	inv.Flags = flags
	if flags&FlagMarked != 0 {
		// The operator's decision stands and is the last word the shop
		// heard: payments still report their own events and flags record
		// what happened, but no invoice-level event follows a mark.
		return nil
	}
	if newFlags&FlagPaidPartial != 0 {
		emit(EventInvoicePaidPartial)
	}
	if newFlags&FlagPaidLate != 0 {
		emit(EventInvoicePaidLate)
	}
	if newFlags&FlagPaidOver != 0 {
		emit(EventInvoicePaidOver)
	}
	if inv.Status != before {
		switch inv.Status {
		case StatusProcessing:
			emit(EventInvoiceProcessing)
		case StatusSettled:
			emit(EventInvoiceSettled)
		case StatusExpired:
			emit(EventInvoiceExpired)
		case StatusInvalid:
			emit(EventInvoiceInvalid)
		}
	}
	return changes
}

// threshold is the least amount that pays the invoice: the amount due less
// the store's tolerance, rounded up.
func (inv *Invoice) threshold(toleranceBP int) *big.Int {
	t := new(big.Int).Mul(inv.CryptoDue, big.NewInt(int64(10000-toleranceBP)))
	q, r := t.QuoRem(t, big.NewInt(10000), new(big.Int))
	if r.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}
