package watcher

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/monitor"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Payment monitoring: the watcher applies internal/monitor's rules inside
// the block transaction, so a failure, the block it causes, its audit entry
// and the held payment that follows commit together with the payments
// themselves. Blocks are per (network, sending address) across every store
// of the gateway: one operator runs them all.

// blockIDPrefix starts the ids of the blocks monitoring imposes.
const blockIDPrefix = "blk"

// alertMsg is one alert to raise once the transaction committed.
type alertMsg struct{ title, text string }

// observation is a payment the step changed and the payment-level event
// it emitted.
type observation struct {
	typ cryptopay.EventType
	pay cryptopay.Payment
}

// senderBlocked reports whether payments from address on the watched
// network are held.
func (w *Watcher) senderBlocked(ctx context.Context, tx storage.Tx, address string) (bool, error) {
	if address == "" {
		return false, nil
	}
	_, err := tx.GetBlockedAddress(ctx, w.network, address)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("blocked address %s: %w", address, err)
	}
	return true, nil
}

// monitorInvoice applies the monitoring rules to what one step did to inv
// (its observed payments and its transitions) and returns the alerts to
// raise. Any error fails the step's transaction.
func (w *Watcher) monitorInvoice(ctx context.Context, tx storage.Tx, inv *cryptopay.Invoice, store *cryptopay.Store,
	seen []observation, changes []cryptopay.Change, now time.Time) ([]alertMsg, error) {
	var alerts []alertMsg
	add := func(f monitor.Finding) { alerts = append(alerts, alertMsg{f.Title, f.Text}) }
	cur, rate := w.policyCurrency(ctx, inv, store)

	// Failures: only payments a mined conflict took away from us, the
	// fraud the rule exists to stop. Never a fee bump (replaced), a
	// mempool hint (conflicted), a slow confirmation of an on-time payment,
	// an underpayment or an invoice the clock moved: exchanges share one
	// sending address among many customers, and blocking it for an honest
	// mishap would turn all of them away.
	for _, o := range seen {
		if o.typ == cryptopay.EventPaymentReinstated && o.pay.FromAddress != "" {
			// Its double spend left the chain: nothing was taken away.
			if err := tx.ForgetPaymentFailures(ctx, w.network, o.pay.FromAddress, o.pay.ID); err != nil {
				return nil, err
			}
			continue
		}
		if o.typ != cryptopay.EventPaymentDoubleSpent {
			continue
		}
		a, err := w.recordFailure(ctx, tx, inv, &o.pay, monitor.ReasonDoubleSpent, now)
		if err != nil {
			return nil, err
		}
		alerts = append(alerts, a...)
	}

	for _, o := range seen {
		p := o.pay
		if o.typ != cryptopay.EventInvoicePaymentDetected && o.typ != cryptopay.EventPaymentHeld {
			continue
		}
		if o.typ == cryptopay.EventPaymentHeld {
			add(monitor.Held(inv, &p))
		}
		if v, ok := monitor.Value(inv, p.Amount, cur, rate); ok && w.rules.IsHighValue(v, cur) {
			add(monitor.HighValuePayment(inv, &p, v, cur))
		}
		if w.rules.PaymentBurst(len(inv.Payments)) {
			add(monitor.PaymentBurstFinding(inv, len(inv.Payments)))
		}
		if p.FromAddress != "" {
			n, err := tx.CountAddressInvoices(ctx, w.network, p.FromAddress, now.Add(-w.rules.AddressWindow))
			if err != nil {
				return nil, fmt.Errorf("count invoices paid by %s: %w", p.FromAddress, err)
			}
			if w.rules.AddressBurst(n) {
				add(monitor.AddressBurstFinding(w.network, p.FromAddress, n, w.rules.AddressWindow, inv))
			}
		}
	}

	if slices.ContainsFunc(changes, func(c cryptopay.Change) bool { return c.Type == cryptopay.EventInvoiceSettled }) {
		if v, ok := monitor.Value(inv, inv.AmountConfirmed, cur, rate); ok && w.rules.IsHighValue(v, cur) {
			add(monitor.HighValueSettlement(inv, v, cur, senders(inv)))
		}
	}
	if err := openReviews(ctx, tx, inv, alerts, now); err != nil { // review.go
		return nil, err
	}
	return alerts, nil
}

// recordFailure counts one failed payment against its sender and blocks
// the sender when the rules say so: the block row, an audit entry by
// "system" and an alert, all in tx.
func (w *Watcher) recordFailure(ctx context.Context, tx storage.Tx, inv *cryptopay.Invoice, p *cryptopay.Payment, reason string, now time.Time) ([]alertMsg, error) {
	if p.FromAddress == "" {
		return nil, nil // nothing to hold the failure against
	}
	fresh, err := tx.RecordAddressFailure(ctx, &storage.AddressFailure{Network: w.network, Address: p.FromAddress,
		PaymentID: p.ID, InvoiceID: inv.ID, Reason: reason, At: now})
	if err != nil || !fresh {
		return nil, err
	}
	since := now.Add(-w.rules.FailureWindow)
	// Failures older than the window can never count again.
	if _, err := tx.DeleteAddressFailures(ctx, since); err != nil {
		return nil, err
	}
	n, err := tx.CountAddressFailures(ctx, w.network, p.FromAddress, since)
	if err != nil {
		return nil, err
	}
	if !w.rules.ShouldBlock(n) {
		return nil, nil
	}
	if blocked, err := w.senderBlocked(ctx, tx, p.FromAddress); err != nil || blocked {
		return nil, err
	}
	b := &storage.BlockedAddress{ID: cryptopay.NewID(blockIDPrefix, now), Network: w.network, Address: p.FromAddress,
		Reason: fmt.Sprintf("%d failed payments within %s", n, w.rules.FailureWindow), Failures: n,
		BlockedAt: now, BlockedBy: monitor.SystemActor}
	if err := tx.BlockAddress(ctx, b); err != nil {
		return nil, fmt.Errorf("block %s: %w", p.FromAddress, err)
	}
	// Recorded in the store of the invoice whose failure tipped the count,
	// so its operator sees it through GET /v1/audit_events.
	entry, err := storage.AuditRecord{StoreID: inv.StoreID, Livemode: inv.Livemode, Actor: monitor.SystemActor,
		Action: monitor.AuditAddressBlocked, Target: p.FromAddress, Details: map[string]any{
			"network": w.network, "address": p.FromAddress, "failures": n,
			"window": w.rules.FailureWindow.String(), "last_reason": reason, "invoice_id": inv.ID,
		}}.Entry(now)
	if err != nil {
		return nil, err
	}
	if err := tx.AppendAudit(ctx, entry); err != nil {
		return nil, err
	}
	f := monitor.Blocked(w.network, p.FromAddress, n, w.rules.FailureWindow, inv)
	return []alertMsg{{f.Title, f.Text}}, nil
}

// policyCurrency returns the store's confirmation policy currency and,
// when the invoice is not priced in it, the asset's current rate in it
// (nil when unknown: values are then unknown and raise no alert).
func (w *Watcher) policyCurrency(ctx context.Context, inv *cryptopay.Invoice, store *cryptopay.Store) (cryptopay.Currency, *big.Rat) {
	cur, _ := cryptopay.LookupCurrency(store.Confirmations.Currency)
	if inv.Currency == cur.Code || w.rates == nil || cur.Code == "" {
		return cur, nil
	}
	rate, err := w.rates.Rate(ctx, inv.Asset, cur.Code)
	if err != nil {
		return cur, nil
	}
	return cur, rate
}

// senders lists the distinct sending addresses of inv's credited payments.
func senders(inv *cryptopay.Invoice) string {
	var out []string
	for _, p := range inv.Payments {
		if p.Status == cryptopay.PaymentConfirmed && p.FromAddress != "" && !slices.Contains(out, p.FromAddress) {
			out = append(out, p.FromAddress)
		}
	}
	return strings.Join(out, ", ")
}
