package watcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/tracker"
)

// persist stores what one tracker step reported: for every invoice
// touched, its payments, its recomputed state and the events of both, and
// then the tracker's snapshot, all in one transaction. If the transaction
// fails the tracker is reloaded from the last stored snapshot, so memory
// never runs ahead of the database.
func (w *Watcher) persist(ctx context.Context, events []tracker.Event) error {
	snap, err := encodeSnapshot(w.tr)
	if err != nil {
		return w.fail(err)
	}
	tip, _ := w.tr.Tip()
	now := w.now().UTC()
	var alerts []alertMsg
	epoch := w.leading()
	err = w.db.InTx(ctx, func(tx storage.Tx) error {
		alerts = alerts[:0]
		// Fenced: nothing is written unless this watcher still holds the
		// lease it acquired (lead.go).
		if epoch != 0 {
			if err := tx.CheckLease(ctx, w.leaseName, epoch); err != nil {
				return err
			}
		}
		byInvoice, order, err := w.group(ctx, tx, events)
		if err != nil {
			return err
		}
		for _, id := range order {
			a, err := w.applyInvoice(ctx, tx, id, byInvoice[id], now)
			if err != nil {
				return err
			}
			alerts = append(alerts, a...)
		}
		return tx.PutChainState(ctx, &storage.ChainState{
			Network: w.network, Height: tip.Height, Hash: tip.Hash, Snapshot: snap, UpdatedAt: now,
		})
	})
	if err != nil {
		return w.fail(fmt.Errorf("store chain step: %w", err))
	}
	for _, a := range alerts {
		w.raise(ctx, a.title, a.text)
	}
	return nil
}

// group maps each event to the invoice whose address it paid, keeping the
// order in which invoices first appear.
func (w *Watcher) group(ctx context.Context, tx storage.Tx, events []tracker.Event) (map[string][]tracker.Event, []string, error) {
	byKey := map[chain.Key]string{}
	out := map[string][]tracker.Event{}
	var order []string
	for _, ev := range events {
		id, ok := byKey[ev.Payment.Key]
		if !ok {
			addr := w.src.AddressOf(ev.Payment.Key)
			inv, err := tx.GetInvoiceByAddress(ctx, w.network, addr)
			if errors.Is(err, storage.ErrNotFound) {
				// The address is watched but no invoice owns it: only
				// possible if an invoice was deleted. Nothing to credit.
				w.log.WarnContext(ctx, "payment to an address without an invoice", "address", addr, "txid", ev.Payment.Outpoint.TxID)
				byKey[ev.Payment.Key] = ""
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			id = inv.ID
			byKey[ev.Payment.Key] = id
		}
		if id == "" {
			continue
		}
		if _, seen := out[id]; !seen {
			order = append(order, id)
		}
		out[id] = append(out[id], ev)
	}
	return out, order, nil
}

// applyInvoice applies one invoice's tracker events and advances its
// state. It returns the alerts for what an operator must see.
func (w *Watcher) applyInvoice(ctx context.Context, tx storage.Tx, id string, events []tracker.Event, now time.Time) ([]alertMsg, error) {
	inv, err := tx.LockInvoice(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("lock invoice %s: %w", id, err)
	}
	store, err := tx.GetStore(ctx, inv.StoreID)
	if err != nil {
		return nil, fmt.Errorf("store of invoice %s: %w", id, err)
	}
	wasSettled := inv.Status == cryptopay.StatusSettled
	var notes []observation // payment-level events, in order
	var alerts []alertMsg
	problem := "Payment problem on a " + string(w.network) + " invoice"
	for _, ev := range events {
		p, typ, err := w.applyEvent(ctx, tx, inv, ev, now)
		if err != nil {
			return nil, err
		}
		if typ != "" {
			notes = append(notes, observation{typ, p})
		}
		if ev.Kind == tracker.DoubleSpent {
			alerts = append(alerts, alertMsg{problem, fmt.Sprintf("Invoice %s (order %s): payment %s:%d was double spent by %s; it is not credited.",
				inv.ID, inv.OrderID, p.TxID, p.Vout, ev.ConflictTxID)})
		}
	}
	changes := inv.Advance(inv.Payments, now, store.ToleranceBasisPoints)
	if wasSettled && inv.Status != cryptopay.StatusSettled {
		alerts = append(alerts, alertMsg{problem, fmt.Sprintf("Invoice %s (order %s) was settled, but a payment it counted left the best chain: it is %s again and flagged reorged. Do not ship until it settles again.",
			inv.ID, inv.OrderID, inv.Status)})
	}
	// Payment monitoring (monitor.go), in this same transaction: failures
	// and blocks, held payments, high-value and unusual-activity alerts.
	found, err := w.monitorInvoice(ctx, tx, inv, store, notes, changes, now)
	if err != nil {
		return nil, fmt.Errorf("monitor invoice %s: %w", id, err)
	}
	alerts = append(alerts, found...)
	if err := tx.UpdateInvoice(ctx, inv); err != nil {
		return nil, fmt.Errorf("update invoice %s: %w", id, err)
	}
	// Every event carries the invoice as it is after the whole step; the
	// payment events come first, then the invoice's transitions, which
	// name the last payment that moved it.
	var last *cryptopay.Payment
	for i := range notes {
		ev := cryptopay.NewInvoiceEvent(notes[i].typ, inv, &notes[i].pay, now)
		if err := tx.CreateEvent(ctx, &ev); err != nil {
			return nil, fmt.Errorf("event for invoice %s: %w", id, err)
		}
		last = &notes[i].pay
	}
	for _, c := range changes {
		ev := cryptopay.NewInvoiceEvent(c.Type, inv, last, now)
		if err := tx.CreateEvent(ctx, &ev); err != nil {
			return nil, fmt.Errorf("event for invoice %s: %w", id, err)
		}
	}
	return alerts, nil
}

// applyEvent writes one tracker event to the invoice's payment (creating
// it on first sight) and returns the payment after the change and the
// payment-level event to emit, if any. inv.Payments is kept current.
func (w *Watcher) applyEvent(ctx context.Context, tx storage.Tx, inv *cryptopay.Invoice, ev tracker.Event, now time.Time) (cryptopay.Payment, cryptopay.EventType, error) {
	tp := ev.Payment
	idx := -1
	for i, p := range inv.Payments {
		if p.TxID == tp.Outpoint.TxID && p.Vout == tp.Outpoint.Index {
			idx = i
			break
		}
	}
	created := idx < 0
	if created {
		inv.Payments = append(inv.Payments, cryptopay.Payment{
			ID:          cryptopay.NewID(cryptopay.PrefixPayment, now),
			InvoiceID:   inv.ID,
			TxID:        tp.Outpoint.TxID,
			Vout:        tp.Outpoint.Index,
			Amount:      tp.Amount,
			RBF:         tp.RBF,
			FromAddress: tp.From,
			Status:      cryptopay.PaymentPending,
			SeenAt:      now,
		})
		idx = len(inv.Payments) - 1
	}
	p := &inv.Payments[idx]
	before := p.Confirmations
	// A payment from a blocked sender is recorded but held, never credited
	// (monitor.go); it stays held whatever the chain does, unless it is
	// double spent.
	held := p.Status == cryptopay.PaymentHeld
	if created {
		var err error
		if held, err = w.senderBlocked(ctx, tx, p.FromAddress); err != nil {
			return cryptopay.Payment{}, "", err
		}
	}
	var typ cryptopay.EventType

	switch ev.Kind {
	case tracker.DoubleSpent:
		p.Status, p.Confirmations, p.BlockHash, p.BlockHeight, p.ConfirmedAt = cryptopay.PaymentDoubleSpent, 0, "", 0, nil
		p.ConflictTxID = ev.ConflictTxID
		typ = cryptopay.EventPaymentDoubleSpent
	case tracker.ReorgedOut:
		p.Status, p.Confirmations, p.BlockHash, p.BlockHeight, p.ConfirmedAt = cryptopay.PaymentReorged, 0, "", 0, nil
		typ = cryptopay.EventPaymentReorged
	case tracker.PaymentSeen, tracker.ConfirmationsChanged, tracker.Final:
		if p.Status == cryptopay.PaymentDoubleSpent {
			break // terminal: never credited again
		}
		p.Confirmations = tp.Confirmations
		p.BlockHash, p.BlockHeight = "", 0
		if tp.Block != nil {
			p.BlockHash, p.BlockHeight = tp.Block.Hash, tp.Block.Height
		}
		// Credited only with the required confirmations on the best chain.
		// An invoice the store lets settle unconfirmed (a small one) still
		// waits for one block when the payment signals replaceability.
		req := int64(inv.RequiredConfirmations)
		if req == 0 && p.RBF {
			req = 1
		}
		if p.Confirmations >= req {
			if p.Status != cryptopay.PaymentConfirmed {
				t := now
				p.ConfirmedAt = &t
			}
			p.Status = cryptopay.PaymentConfirmed
		} else {
			p.Status, p.ConfirmedAt = cryptopay.PaymentPending, nil
		}
		switch {
		case created || ev.Kind == tracker.PaymentSeen:
			typ = cryptopay.EventInvoicePaymentDetected
		case min(before, req) != min(p.Confirmations, req):
			// Counted up to the requirement; beyond it the count changes
			// nothing a shop acts on, so it is not announced.
			typ = cryptopay.EventInvoiceConfirmationsChanged
		}
	}
	if held && p.Status != cryptopay.PaymentDoubleSpent {
		p.Status, p.ConfirmedAt, typ = cryptopay.PaymentHeld, nil, ""
		if created {
			typ = cryptopay.EventPaymentHeld
		}
	}
	if created {
		if err := tx.CreatePayment(ctx, p); err != nil {
			return cryptopay.Payment{}, "", fmt.Errorf("create payment %s:%d: %w", p.TxID, p.Vout, err)
		}
	} else if err := tx.UpdatePayment(ctx, p); err != nil {
		return cryptopay.Payment{}, "", fmt.Errorf("update payment %s:%d: %w", p.TxID, p.Vout, err)
	}
	return *p, typ, nil
}
