package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// AdvanceDue moves the invoices the clock has changed (new ones past
// expiry, processing ones past their monitoring window) to their next
// state, each with its events in one transaction. It returns how many it
// moved. serve calls it every second.
func (s *Service) AdvanceDue(ctx context.Context) (int, error) {
	ids, err := s.db.ListInvoicesDue(ctx, s.Now(), 500)
	if err != nil {
		return 0, fmt.Errorf("list invoices due: %w", err)
	}
	moved := 0
	for _, id := range ids {
		err := s.db.InTx(ctx, func(tx storage.Tx) error {
			inv, err := tx.LockInvoice(ctx, id)
			if err != nil {
				return err
			}
			st, err := tx.GetStore(ctx, inv.StoreID)
			if err != nil {
				return err
			}
			now := s.Now()
			changes := inv.Advance(inv.Payments, now, st.ToleranceBasisPoints)
			if len(changes) == 0 {
				return nil // another instance or the watcher moved it first
			}
			if err := tx.UpdateInvoice(ctx, inv); err != nil {
				return err
			}
			for _, c := range changes {
				ev := cryptopay.NewInvoiceEvent(c.Type, inv, nil, now)
				if err := tx.CreateEvent(ctx, &ev); err != nil {
					return err
				}
			}
			moved++
			return nil
		})
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return moved, fmt.Errorf("advance invoice %s: %w", id, err)
		}
	}
	return moved, nil
}
