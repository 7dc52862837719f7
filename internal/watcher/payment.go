package watcher

import (
	"cmp"
	"math/big"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/chain"
)

// A payment's status follows the chain as the tracker sees it after a
// step; the events say what differs from the status stored before.

// paymentIndex finds the invoice's payment for op, or -1.
func paymentIndex(inv *cryptopay.Invoice, op chain.Outpoint) int {
	for i, p := range inv.Payments {
		if p.TxID == op.TxID && p.Vout == op.Index {
			return i
		}
	}
	return -1
}

// requiredConfirmations is what crediting p takes: the invoice's
// requirement, and never less than one block. An unconfirmed payment is
// never final whatever it signals: Bitcoin Core replaces transactions
// without the BIP125 signal (full-RBF, the default from 28.0, and what
// miners run), so a store's zero-confirmation bound settles its small
// invoices at the first block rather than on a mempool sighting.
func requiredConfirmations(inv *cryptopay.Invoice, _ *cryptopay.Payment) int64 {
	return max(int64(inv.RequiredConfirmations), 1)
}

// settleStatus sets p's status from its observed chain state o. before is
// the payment as stored before the step (zero for a new one).
//
//   - outside_window, held and wrong_asset stay: that money is recorded, never credited
//     automatically, whatever the chain does. A held payment still keeps
//     the transaction that conflicts with it, so an operator's release
//     (gateway.ReleasePayment) starts from the chain's facts; once
//     released it is no longer held and follows the rules below;
//   - mined in the best chain: confirmed with the required confirmations
//     (or final, the reorg limit deep), else pending;
//   - a conflict mined in the best chain: double_spent, a conflict only in
//     the mempool (or the node dropped it): conflicted; either is replaced
//     instead when the conflict pays this invoice at least as much (a fee
//     bump is not a failure);
//   - unconfirmed otherwise: pending, or reorged if it was mined before.
func settleStatus(inv *cryptopay.Invoice, p *cryptopay.Payment, o observedPayment, before cryptopay.Payment, now time.Time) {
	if p.Status == cryptopay.PaymentOutsideWindow || p.Status == cryptopay.PaymentHeld || p.Status == cryptopay.PaymentWrongAsset {
		p.ConfirmedAt = nil
		if p.Status == cryptopay.PaymentHeld {
			p.ConflictTxID = ""
			if o.tp.Block == nil {
				p.ConflictTxID = cmp.Or(o.tp.DoubleSpentBy, o.tp.ConflictedBy)
			}
		}
		return
	}
	tp := o.tp
	req := requiredConfirmations(inv, p)
	conflict := ""
	var st cryptopay.PaymentStatus
	switch {
	case tp.Block != nil || (o.final && tp.DoubleSpentBy == ""):
		st = cryptopay.PaymentPending
		if p.Confirmations >= req || o.final {
			// Final (the reorg limit deep) satisfies any requirement.
			st = cryptopay.PaymentConfirmed
		}
	case tp.DoubleSpentBy != "":
		st, conflict = cryptopay.PaymentDoubleSpent, tp.DoubleSpentBy
	case tp.ConflictedBy != "" || tp.Dropped:
		st, conflict = cryptopay.PaymentConflicted, tp.ConflictedBy
	case req == 0:
		st = cryptopay.PaymentConfirmed // the store settles small invoices unconfirmed
	case before.BlockHash != "" || before.Status == cryptopay.PaymentReorged:
		st = cryptopay.PaymentReorged
	default:
		st = cryptopay.PaymentPending
	}
	if conflict != "" && replaces(inv, conflict, p.TxID) {
		st = cryptopay.PaymentReplaced
	}
	if st == cryptopay.PaymentConfirmed {
		if p.Status != cryptopay.PaymentConfirmed || p.ConfirmedAt == nil {
			t := now
			p.ConfirmedAt = &t
		}
	} else {
		p.ConfirmedAt = nil
	}
	p.Status, p.ConflictTxID = st, conflict
}

// replaces reports whether transaction by pays inv at least as much as
// transaction txid does: a replacement (a fee bump), not a failure.
func replaces(inv *cryptopay.Invoice, by, txid string) bool {
	theirs, ours := new(big.Int), new(big.Int)
	for _, q := range inv.Payments {
		switch q.TxID {
		case by:
			theirs.Add(theirs, q.Amount)
		case txid:
			ours.Add(ours, q.Amount)
		}
	}
	return theirs.Sign() > 0 && theirs.Cmp(ours) >= 0
}

// paymentEvents returns the payment-level events for the change from
// before to after (before is zero for a payment created in this step).
// Confirmation counts are announced up to the requirement: beyond it they
// change nothing a shop acts on.
func paymentEvents(created bool, before, after cryptopay.Payment, req int64) []cryptopay.EventType {
	var out []cryptopay.EventType
	if created {
		switch after.Status {
		case cryptopay.PaymentHeld:
			return []cryptopay.EventType{cryptopay.EventPaymentHeld}
		case cryptopay.PaymentOutsideWindow:
			return []cryptopay.EventType{cryptopay.EventPaymentOutsideWindow}
		case cryptopay.PaymentWrongAsset:
			return []cryptopay.EventType{cryptopay.EventPaymentWrongAsset}
		}
		out = append(out, cryptopay.EventInvoicePaymentDetected)
		// Seen in this step as it is now: no separate count.
		before = cryptopay.Payment{Status: after.Status, Confirmations: after.Confirmations}
		if !after.Status.Counted() {
			before.Status = cryptopay.PaymentPending
		}
	}
	if before.Status == after.Status {
		if after.Status.Counted() && min(before.Confirmations, req) != min(after.Confirmations, req) {
			out = append(out, cryptopay.EventInvoiceConfirmationsChanged)
		}
		return out
	}
	switch after.Status {
	case cryptopay.PaymentDoubleSpent:
		return append(out, cryptopay.EventPaymentDoubleSpent)
	case cryptopay.PaymentConflicted:
		return append(out, cryptopay.EventPaymentConflicted)
	case cryptopay.PaymentReplaced:
		return append(out, cryptopay.EventPaymentReplaced)
	case cryptopay.PaymentReorged:
		return append(out, cryptopay.EventPaymentReorged)
	}
	switch before.Status {
	case cryptopay.PaymentDoubleSpent, cryptopay.PaymentConflicted, cryptopay.PaymentReplaced:
		return append(out, cryptopay.EventPaymentReinstated)
	}
	if !created && min(before.Confirmations, req) != min(after.Confirmations, req) {
		out = append(out, cryptopay.EventInvoiceConfirmationsChanged)
	}
	return out
}
