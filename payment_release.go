package cryptopay

import (
	"fmt"
	"time"
)

// Release of a held payment: a payment from a blocked sending address is
// recorded held and never credited whatever the chain does. An operator
// who has reviewed it releases it (with a reason, audited); from then on it
// is a payment like any other. It is not credited on the operator's word:
// its status comes from its chain facts as last recorded (the watcher keeps
// a held payment's block, confirmations and conflicts up to date), and the
// watcher goes on tracking it, so it counts toward the invoice once it is
// confirmed on the best chain with the invoice's confirmation tier, and a
// reorg or a double spend still takes it away.

// ReleasePayment releases inv's held payment id at now on behalf of by:
// it sets the payment's status from its chain facts (confirmed when mined
// with the required confirmations, pending when mined with fewer or when
// unconfirmed, conflicted when a conflicting transaction displaced it),
// records who released it and when, and clears the invoice's held flag
// when no held payment remains. It does not recompute the invoice's
// amounts or status: Advance does that with the store's tolerance.
//
// A payment released already is returned as it is, with changed false: a
// retried release changes nothing. A payment that is not held (and never
// was released) is a CodeInvalidState error; one the invoice does not
// have is CodeNotFound. Either leaves inv unchanged.
func (inv *Invoice) ReleasePayment(id, by string, now time.Time) (p *Payment, changed bool, err error) {
	for i := range inv.Payments {
		if inv.Payments[i].ID == id {
			p = &inv.Payments[i]
			break
		}
	}
	switch {
	case p == nil:
		return nil, false, Errorf(CodeNotFound, "Invoice %s has no payment %q.", inv.ID, id)
	case p.ReleasedAt != nil:
		return p, false, nil
	case p.Status != PaymentHeld:
		return nil, false, &Error{Code: CodeInvalidState, Param: "payment_id",
			Message: fmt.Sprintf("Payment %s is %s, not held: only a held payment can be released.", p.ID, p.Status)}
	}
	req := max(int64(inv.RequiredConfirmations), 1) // never credited unconfirmed, as the watcher's rule
	switch {
	case p.BlockHash != "" && p.Confirmations >= req:
		p.Status = PaymentConfirmed
		t := now
		p.ConfirmedAt = &t
	case p.BlockHash == "" && p.ConflictTxID != "":
		p.Status = PaymentConflicted
	default:
		p.Status = PaymentPending
	}
	t := now
	p.ReleasedAt, p.ReleasedBy = &t, by
	held := false
	for _, q := range inv.Payments {
		held = held || q.Status == PaymentHeld
	}
	if !held {
		inv.Flags &^= FlagHeld
	}
	return p, true, nil
}

// NewReleaseEvent builds payment.released: the invoice as it is after the
// release (the payment counted in amount_paid once it is pending or
// confirmed), the payment with its new status, and the reason given.
func NewReleaseEvent(inv *Invoice, p *Payment, reason string, now time.Time) Event {
	d := invoiceEventData(inv, p)
	d.Reason = reason
	return newInvoiceEvent(EventPaymentReleased, inv, d, now)
}
