package watcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Time in the settlement loop. The watcher owns every change of invoice
// state on its network, from time as from the chain: Step calls expire
// only after a complete pass over the node (tip and mempool), with the
// time that pass started. So an invoice expires, or a processing one
// becomes invalid, only once the chain up to that time has been seen and
// every payment in it recorded; while the node is down, behind or the
// watcher halted, nothing expires (and /readyz says why).

// expireBatch bounds the invoices one pass moves; the next pass takes the
// rest.
const expireBatch = 500

// expire moves the invoices of the watched network that the clock has
// changed at now (new ones past expiry, processing ones past their
// monitoring window), each with its events in one transaction.
func (w *Watcher) expire(ctx context.Context, now time.Time) error {
	ids, err := w.db.ListInvoicesDue(ctx, []cryptopay.Network{w.network}, now, expireBatch)
	if err != nil {
		return fmt.Errorf("list invoices due: %w", err)
	}
	epoch := w.leading()
	for _, id := range ids {
		err := w.db.InTx(ctx, func(tx storage.Tx) error {
			if err := w.fence(ctx, tx, epoch); err != nil {
				return err
			}
			return w.advanceInvoice(ctx, tx, id, now)
		})
		if errors.Is(err, storage.ErrLeaseLost) {
			return err
		}
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("advance invoice %s: %w", id, err)
		}
	}
	return nil
}

// advanceInvoice applies time to one invoice inside tx: it locks it,
// recomputes its state at now and writes the change with its events.
// Expiry and the end of the monitoring window count no failed payment of
// anyone: only a mined double spend does (monitor.go).
func (w *Watcher) advanceInvoice(ctx context.Context, tx storage.Tx, id string, now time.Time) error {
	inv, err := tx.LockInvoice(ctx, id)
	if err != nil {
		return err
	}
	st, err := tx.GetStore(ctx, inv.StoreID)
	if err != nil {
		return err
	}
	changes := inv.Advance(inv.Payments, now, st.ToleranceBasisPoints)
	if len(changes) == 0 {
		return nil
	}
	if err := tx.UpdateInvoice(ctx, inv); err != nil {
		return err
	}
	for _, c := range changes {
		ev := cryptopay.NewInvoiceEvent(c.Type, inv, nil, now)
		if err := w.outbox.Append(ctx, tx, &ev); err != nil {
			return err
		}
	}
	return nil
}
