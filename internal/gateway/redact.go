package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// RedactInvoice erases an invoice's customer reference and metadata (the
// guide's right to deletion) and records the deletion in the audit log in
// the same transaction. Amounts, addresses, payments and events stay for
// record keeping. An operator passes a nil caller; an API caller may only
// redact invoices of its own store and mode. Redacting twice is allowed
// and recorded twice.
func (s *Service) RedactInvoice(ctx context.Context, caller *cryptopay.APIKey, id string) (*cryptopay.Invoice, error) {
	if !cryptopay.ValidID(cryptopay.PrefixInvoice, id) {
		return nil, cryptopay.Invalid("id", "%q is not an invoice id.", id)
	}
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		inv, err := tx.GetInvoice(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return notFound("invoice", id)
		}
		if err != nil {
			return err
		}
		if !visibleTo(caller, inv.StoreID, inv.Livemode) {
			return notFound("invoice", id)
		}
		if err := tx.RedactInvoice(ctx, id); err != nil {
			return err
		}
		return s.Audit(ctx, tx, AuditRecord{StoreID: inv.StoreID, Livemode: inv.Livemode,
			Action: AuditInvoiceRedacted, Target: id,
			Details: map[string]any{"fields": []string{"customer_reference", "metadata"}}})
	})
	if err != nil {
		if _, ok := errors.AsType[*cryptopay.Error](err); ok {
			return nil, err
		}
		return nil, fmt.Errorf("redact invoice: %w", err)
	}
	return s.GetInvoice(ctx, caller, id)
}
