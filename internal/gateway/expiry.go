package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// AdvanceDue moves the invoices of networks that the clock has changed
// (new ones past expiry, processing ones past their monitoring window) to
// their next state, each with its events in one transaction, and returns
// how many it moved.
//
// It is the time-only settlement loop for networks no chain watcher
// follows (a test-mode gateway without a node): there is no chain to wait
// for, so the wall clock decides. A watched network's invoices are never
// passed here: its watcher is their one owner and applies time only once
// it has seen the chain up to it (internal/watcher/expiry.go).
func (s *Service) AdvanceDue(ctx context.Context, networks []cryptopay.Network) (int, error) {
	ids, err := s.db.ListInvoicesDue(ctx, networks, s.Now(), 500)
	if err != nil {
		return 0, fmt.Errorf("list invoices due: %w", err)
	}
	moved := 0
	for _, id := range ids {
		advanced := false // set by the attempt that commits; PostgreSQL may retry the callback
		err := s.db.InTx(ctx, func(tx storage.Tx) error {
			advanced = false
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
				return nil // another instance moved it first
			}
			if err := tx.UpdateInvoice(ctx, inv); err != nil {
				return err
			}
			for _, c := range changes {
				ev := cryptopay.NewInvoiceEvent(c.Type, inv, nil, now)
				if err := s.outbox.Append(ctx, tx, &ev); err != nil {
					return err
				}
			}
			advanced = true
			return nil
		})
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return moved, fmt.Errorf("advance invoice %s: %w", id, err)
		}
		if err == nil && advanced {
			moved++
		}
	}
	return moved, nil
}
