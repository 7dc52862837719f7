package watcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/tracker"
)

// persist stores what one step of the settlement loop reported (a whole
// reorg switch, a batch of blocks, or the mempool): for every invoice
// touched, its payments as the tracker sees them after the step, its
// recomputed state and the events for what differs from before, then the
// tracker's snapshot, all in one transaction. times maps the hashes of the
// blocks the step connected to their header times, the first-seen time of
// a payment first seen mined. If the transaction fails the tracker is
// reloaded from the last stored snapshot, so memory never runs ahead of the
// database.
func (w *Watcher) persist(ctx context.Context, events []tracker.Event, times map[string]int64) error {
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
		if err := w.fence(ctx, tx, epoch); err != nil {
			return err
		}
		byInvoice, order, err := w.group(ctx, tx, events)
		if err != nil {
			return err
		}
		for _, id := range order {
			a, err := w.applyInvoice(ctx, tx, id, byInvoice[id], times, now)
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
	w.observe(events, tip.Height)
	for _, a := range alerts {
		w.raise(ctx, a.title, a.text)
	}
	return nil
}

// observe reports a stored step to the metrics hooks: each new payment's
// detection time and the processed height.
func (w *Watcher) observe(events []tracker.Event, height int64) {
	if w.onDetected != nil && !w.passStart.IsZero() {
		d := time.Since(w.passStart)
		for _, ev := range events {
			if ev.Kind == tracker.PaymentSeen {
				w.onDetected(d)
			}
		}
	}
	if w.onProcessed != nil {
		w.onProcessed(height)
	}
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

// observed is one payment as the tracker left it after the step.
type observedPayment struct {
	tp    tracker.Payment
	final bool
}

// applyInvoice applies the step to one invoice: each payment's state after
// the step (the last event about it carries it), compared with what was
// stored before, decides the payment events; Advance decides the invoice's.
// It returns the alerts for what an operator must see.
func (w *Watcher) applyInvoice(ctx context.Context, tx storage.Tx, id string, events []tracker.Event, times map[string]int64, now time.Time) ([]alertMsg, error) {
	inv, err := tx.LockInvoice(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("lock invoice %s: %w", id, err)
	}
	store, err := tx.GetStore(ctx, inv.StoreID)
	if err != nil {
		return nil, fmt.Errorf("store of invoice %s: %w", id, err)
	}
	after := map[chain.Outpoint]observedPayment{}
	var outpoints []chain.Outpoint
	for _, ev := range events {
		op := ev.Payment.Outpoint
		if _, ok := after[op]; !ok {
			outpoints = append(outpoints, op)
		}
		after[op] = observedPayment{tp: ev.Payment, final: ev.Kind == tracker.Final}
	}

	// First the chain facts of every payment (creating new ones), then
	// their statuses, which may depend on each other (a replacement).
	type change struct {
		idx     int
		before  cryptopay.Payment
		created bool
	}
	var touched []change
	for _, op := range outpoints {
		o := after[op]
		idx := paymentIndex(inv, op)
		c := change{idx: idx}
		if idx < 0 {
			seen := now
			if o.tp.Block != nil {
				if t, ok := times[o.tp.Block.Hash]; ok && t > 0 {
					seen = time.Unix(t, 0).UTC()
				}
			}
			p := cryptopay.Payment{
				ID: cryptopay.NewID(cryptopay.PrefixPayment, now), InvoiceID: inv.ID,
				TxID: op.TxID, Vout: op.Index, Amount: o.tp.Amount, RBF: o.tp.RBF, FromAddress: o.tp.From,
				Asset: cmp.Or(o.tp.Asset, w.network.NativeAsset()), Status: cryptopay.PaymentPending, SeenAt: seen,
			}
			// Stored with the payment, so it reads back in its own units
			// (a source only reports assets of its registry, whose
			// decimals were checked against the contracts at start).
			p.Decimals, _ = w.network.AssetDecimals(p.Asset)
			blocked, err := w.senderBlocked(ctx, tx, p.FromAddress)
			if err != nil {
				return nil, err
			}
			switch {
			case p.Asset != inv.Asset:
				// Ether sent to a USDC invoice's address is not USDC:
				// recorded and alerted, never credited.
				p.Status = cryptopay.PaymentWrongAsset
			case !seen.Before(inv.MonitorUntil):
				p.Status = cryptopay.PaymentOutsideWindow
			case blocked:
				p.Status = cryptopay.PaymentHeld
			}
			inv.Payments = append(inv.Payments, p)
			c.idx, c.created = len(inv.Payments)-1, true
		} else {
			c.before = inv.Payments[idx]
		}
		p := &inv.Payments[c.idx]
		p.Confirmations, p.BlockHash, p.BlockHeight = o.tp.Confirmations, "", 0
		if o.tp.Block != nil {
			p.BlockHash, p.BlockHeight = o.tp.Block.Hash, o.tp.Block.Height
		}
		touched = append(touched, c)
	}

	var notes []observation // payment-level events, in order
	var alerts []alertMsg
	problem := "Payment problem on a " + string(w.network) + " invoice"
	for _, c := range touched {
		p := &inv.Payments[c.idx]
		settleStatus(inv, p, after[chain.Outpoint{TxID: p.TxID, Index: p.Vout}], c.before, now)
		for _, typ := range paymentEvents(c.created, c.before, *p, requiredConfirmations(inv, p)) {
			notes = append(notes, observation{typ, *p})
			switch typ {
			case cryptopay.EventPaymentDoubleSpent:
				alerts = append(alerts, alertMsg{problem, fmt.Sprintf("Invoice %s (order %s): payment %s:%d was double spent by %s, mined in the best chain; it is not credited while that block stays there.",
					inv.ID, inv.OrderID, p.TxID, p.Vout, p.ConflictTxID)})
			case cryptopay.EventPaymentWrongAsset:
				alerts = append(alerts, alertMsg{problem, fmt.Sprintf("Invoice %s (order %s) asks for %s, but %s base units of %s reached its address in %s:%d. It is recorded, not credited; decide what to do with it.",
					inv.ID, inv.OrderID, inv.Asset, p.Amount, p.Asset, p.TxID, p.Vout)})
			case cryptopay.EventPaymentOutsideWindow:
				alerts = append(alerts, alertMsg{problem, fmt.Sprintf("Invoice %s (order %s): %s base units of %s reached its address in %s:%d after its monitoring window ended (%s). It is recorded, not credited; decide what to do with it.",
					inv.ID, inv.OrderID, p.Amount, inv.Asset, p.TxID, p.Vout, inv.MonitorUntil.Format(time.RFC3339))})
			}
		}
		if c.created {
			if err := tx.CreatePayment(ctx, p); err != nil {
				return nil, fmt.Errorf("create payment %s:%d: %w", p.TxID, p.Vout, err)
			}
		} else if err := tx.UpdatePayment(ctx, p); err != nil {
			return nil, fmt.Errorf("update payment %s:%d: %w", p.TxID, p.Vout, err)
		}
	}

	wasSettled := inv.Status == cryptopay.StatusSettled
	settledAt := inv.SettledAt
	changes := inv.Advance(inv.Payments, w.observed, store.ToleranceBasisPoints)
	if inv.Status == cryptopay.StatusSettled && settledAt == nil {
		t := now // the clock Advance judged by may be a pass old
		inv.SettledAt = &t
	}
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
		if err := w.outbox.Append(ctx, tx, &ev); err != nil {
			return nil, fmt.Errorf("event for invoice %s: %w", id, err)
		}
		last = &notes[i].pay
	}
	for _, c := range changes {
		ev := cryptopay.NewInvoiceEvent(c.Type, inv, last, now)
		if err := w.outbox.Append(ctx, tx, &ev); err != nil {
			return nil, fmt.Errorf("event for invoice %s: %w", id, err)
		}
	}
	return alerts, nil
}
