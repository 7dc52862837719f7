package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// AuditInvoiceMarked records a manual resolution (mark_settled or
// mark_invalid) with its reason.
const AuditInvoiceMarked = "invoice.marked"

// maxMarkReasonLen bounds the reason of a manual resolution: enough for a
// sentence and a ticket number, short enough for every event and log line.
const maxMarkReasonLen = 500

// MarkInvoice sets an invoice's state by hand (cryptopay.Invoice.Mark: to
// is settled or invalid) for the cases no rule can decide. The state
// change, its audit entry (action invoice.marked, with the reason, the
// previous and the new state, by the context's actor) and its event
// (invoice.settled or invoice.invalid with data.marked and the reason)
// commit in one transaction, under the invoice's row lock so the chain's
// writer cannot interleave. reason is required. An operator passes a nil
// caller; an API caller may mark only its own store's invoices of its
// mode. Marking an invoice with the state it has is a CodeInvalidState
// error and changes nothing.
func (s *Service) MarkInvoice(ctx context.Context, caller *cryptopay.APIKey, id string, to cryptopay.Status, reason string) (*cryptopay.Invoice, error) {
	if !cryptopay.ValidID(cryptopay.PrefixInvoice, id) {
		return nil, cryptopay.Invalid("id", "%q is not an invoice id.", id)
	}
	if !cryptopay.MarkableStatus(to) {
		return nil, cryptopay.Invalid("status", "An invoice can be marked settled or invalid, not %q.", to)
	}
	if err := validateText("reason", reason, maxMarkReasonLen, true); err != nil {
		return nil, err
	}
	var marked *cryptopay.Invoice
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		if err := ClaimIdempotencyKey(ctx, tx, false); err != nil {
			return err
		}
		inv, err := tx.LockInvoice(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return notFound("invoice", id)
		}
		if err != nil {
			return err
		}
		if !visibleTo(caller, inv.StoreID, inv.Livemode) {
			return notFound("invoice", id)
		}
		from := inv.Status
		now := s.Now()
		typ, err := inv.Mark(to, now)
		if err != nil {
			return err
		}
		if err := tx.UpdateInvoice(ctx, inv); err != nil {
			return err
		}
		ev := cryptopay.NewMarkEvent(typ, inv, reason, now)
		if err := s.outbox.Append(ctx, tx, &ev); err != nil {
			return err
		}
		if err := s.Audit(ctx, tx, AuditRecord{StoreID: inv.StoreID, Livemode: inv.Livemode,
			Action: AuditInvoiceMarked, Target: inv.ID, Details: map[string]any{
				"from": string(from), "to": string(to), "reason": reason, "event_id": ev.ID,
			}}); err != nil {
			return err
		}
		marked = inv
		return nil
	})
	if err != nil {
		if _, ok := errors.AsType[*cryptopay.Error](err); ok {
			return nil, err
		}
		return nil, fmt.Errorf("mark invoice %s: %w", to, err)
	}
	return marked, nil
}
