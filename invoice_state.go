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
// double_spent, reorged) are the caller's, who knows what it observed.
//
// The rules:
//   - Paid counts every payment that is not double spent or held;
//     confirmed counts payments with at least RequiredConfirmations. A
//     held payment (from a blocked address) flags the invoice held and
//     counts for nothing until an operator decides.
//   - Paid within tolerance of the amount due before expiry: processing;
//     and confirmed within tolerance: settled. Never settled on
//     unconfirmed money.
//   - A settled invoice whose confirmed amount drops below what is due (a
//     reorg removed a counted block) goes back to processing and is flagged
//     reorged: it is reported, never quietly kept as paid.
//   - Unpaid (or partly paid) at expiry: expired. A payment first seen after
//     expiry is flagged paid_late and the invoice stays expired: the
//     merchant decides, nothing settles silently.
//   - Processing when the monitoring window ends: invalid.
//   - A marked invoice (state set by hand) keeps its state: only its
//     amounts follow the payments.
func (inv *Invoice) Advance(payments []Payment, now time.Time, toleranceBP int) []Change {
	if inv.Marked() {
		return inv.advanceMarked(payments) // set by hand: see invoice_mark.go
	}
	var changes []Change
	emit := func(t EventType) { changes = append(changes, Change{Type: t}) }

	paid, confirmed := new(big.Int), new(big.Int)
	late := false
	flags := inv.Flags
	for i := range payments {
		p := &payments[i]
		switch p.Status {
		case PaymentDoubleSpent:
			flags |= FlagDoubleSpent
			continue
		case PaymentHeld:
			flags |= FlagHeld
			continue
		case PaymentReorged:
			flags |= FlagReorged
		case PaymentConfirmed:
			confirmed.Add(confirmed, p.Amount)
		}
		paid.Add(paid, p.Amount)
		if p.SeenAt.After(inv.ExpiresAt) {
			late = true
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

	switch inv.Status {
	case StatusNew, StatusProcessing, StatusSettled:
		switch {
		case confirmed.Cmp(threshold) >= 0 && paid.Cmp(threshold) >= 0:
			inv.Status = StatusSettled
		case paid.Cmp(threshold) >= 0:
			inv.Status = StatusProcessing
		default:
			inv.Status = StatusNew
		}
		if before == StatusSettled && inv.Status != StatusSettled {
			flags |= FlagReorged
		}
		if inv.Status == StatusNew && !now.Before(inv.ExpiresAt) {
			inv.Status = StatusExpired
		}
		if inv.Status == StatusProcessing && !now.Before(inv.MonitorUntil) {
			inv.Status = StatusInvalid
		}
	case StatusExpired:
		// Stays expired: late money is recorded and flagged, never settled
		// on its own.
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
