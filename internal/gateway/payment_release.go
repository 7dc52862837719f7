package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// AuditPaymentReleased records an operator's release of a held payment,
// with the reason, the payment's sender and its new status.
const AuditPaymentReleased = "payment.released"

// ReleasePayment releases one held payment (its sender was blocked) of
// invoice invoiceID after review, with a required reason: the payment's
// status then follows its chain facts (cryptopay.Invoice.ReleasePayment),
// the invoice's amounts and status are recomputed as the watcher would
// (an already confirmed payment can settle the invoice at once), and the
// watcher tracks the payment like any other from then on: a reorg or a
// double spend still takes it away. The payment's release (released_at,
// released_by), the invoice, the payment.released event and any invoice
// events it causes, and the audit entry (action payment.released, by the
// context's actor) commit in one transaction under the invoice's row
// lock, so the chain's writer cannot interleave.
//
// An operator passes a nil caller; an API caller (invoices:write) may
// release only its own store's payments of its mode. Releasing a payment
// released already returns it as it is and changes nothing (a retry);
// releasing one that is not held is a CodeInvalidState error and changes
// nothing. The blocked address stays blocked: later payments from it are
// held again.
func (s *Service) ReleasePayment(ctx context.Context, caller *cryptopay.APIKey, invoiceID, paymentID, reason string) (*cryptopay.Invoice, *cryptopay.Payment, error) {
	if !cryptopay.ValidID(cryptopay.PrefixInvoice, invoiceID) {
		return nil, nil, cryptopay.Invalid("id", "%q is not an invoice id.", invoiceID)
	}
	if !cryptopay.ValidID(cryptopay.PrefixPayment, paymentID) {
		return nil, nil, cryptopay.Invalid("payment_id", "%q is not a payment id.", paymentID)
	}
	if err := validateText("reason", reason, maxMarkReasonLen, true); err != nil {
		return nil, nil, err
	}
	var (
		out *cryptopay.Invoice
		pay cryptopay.Payment
	)
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		if err := ClaimIdempotencyKey(ctx, tx, false); err != nil {
			return err
		}
		inv, err := tx.LockInvoice(ctx, invoiceID)
		if errors.Is(err, storage.ErrNotFound) {
			return notFound("invoice", invoiceID)
		}
		if err != nil {
			return err
		}
		if !visibleTo(caller, inv.StoreID, inv.Livemode) {
			return notFound("invoice", invoiceID)
		}
		now := s.Now()
		p, changed, err := inv.ReleasePayment(paymentID, ActorFrom(ctx).Name(), now)
		if err != nil {
			return err
		}
		out, pay = inv, *p
		if !changed {
			return nil // released before: a retry
		}
		if err := tx.ReleasePayment(ctx, p); err != nil {
			return fmt.Errorf("release payment %s: %w", p.ID, err)
		}
		store, err := tx.GetStore(ctx, inv.StoreID)
		if err != nil {
			return err
		}
		changes := inv.Advance(inv.Payments, now, store.ToleranceBasisPoints)
		if err := tx.UpdateInvoice(ctx, inv); err != nil {
			return err
		}
		pay = *p
		ev := cryptopay.NewReleaseEvent(inv, &pay, reason, now)
		if err := s.outbox.Append(ctx, tx, &ev); err != nil {
			return err
		}
		for _, c := range changes {
			ce := cryptopay.NewInvoiceEvent(c.Type, inv, &pay, now)
			if err := s.outbox.Append(ctx, tx, &ce); err != nil {
				return err
			}
		}
		return s.Audit(ctx, tx, AuditRecord{StoreID: inv.StoreID, Livemode: inv.Livemode,
			Action: AuditPaymentReleased, Target: pay.ID, Details: map[string]any{
				"invoice_id": inv.ID, "tx_id": pay.TxID, "vout": pay.Vout, "from_address": pay.FromAddress,
				"amount": pay.Amount.String(), "status": string(pay.Status), "reason": reason, "event_id": ev.ID,
			}})
	})
	if err != nil {
		if _, ok := errors.AsType[*cryptopay.Error](err); ok {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("release payment: %w", err)
	}
	return out, &pay, nil
}
