package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// InvalidObserver is told, inside the transaction, of an invoice the clock
// moved to invalid; it returns what to do once that transaction commits.
// The chain watcher counts the invoice's payments as failed payments of
// their senders.
type InvalidObserver func(ctx context.Context, tx storage.Tx, inv *cryptopay.Invoice) (after func(), err error)

// OnInvoiceInvalidated registers fn for invoices AdvanceDue moves to
// invalid.
func (s *Service) OnInvoiceInvalidated(fn InvalidObserver) {
	s.observersMu.Lock()
	s.invalid = append(s.invalid, fn)
	s.observersMu.Unlock()
}

func (s *Service) invalidObservers() []InvalidObserver {
	s.observersMu.RLock()
	defer s.observersMu.RUnlock()
	return s.invalid
}

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
		var after []func()
		advanced := false // set by the attempt that commits; PostgreSQL may retry the callback
		err := s.db.InTx(ctx, func(tx storage.Tx) error {
			after, advanced = after[:0], false
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
				if c.Type == cryptopay.EventInvoiceInvalid {
					for _, fn := range s.invalidObservers() {
						then, err := fn(ctx, tx, inv)
						if err != nil {
							return err
						}
						after = append(after, then)
					}
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
			for _, then := range after {
				then()
			}
		}
	}
	return moved, nil
}
