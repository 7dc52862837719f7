package watcher

import (
	"context"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Reviews: every monitoring alert concerns an invoice (a payment to it, or
// a sender that paid it), so each one also opens a review item for staff,
// with the evidence it rests on, in the block transaction that raised it:
// the alert may be lost in a chat channel; the review is not.

// reviewIDPrefix starts review ids.
const reviewIDPrefix = "rev"

// openReviews writes one open review per alert about inv.
func openReviews(ctx context.Context, tx storage.Tx, inv *cryptopay.Invoice, alerts []alertMsg, now time.Time) error {
	for _, a := range alerts {
		r := &storage.Review{ID: cryptopay.NewID(reviewIDPrefix, now), StoreID: inv.StoreID, Livemode: inv.Livemode,
			InvoiceID: inv.ID, Rule: ruleName(a.title), Title: a.title, Text: a.text, Evidence: evidence(inv),
			Status: storage.ReviewOpen, OpenedAt: now}
		if err := tx.CreateReview(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// ruleName turns an alert title into a stable rule name
// ("High-value payment" → "high_value_payment").
func ruleName(title string) string {
	title, _, _ = strings.Cut(title, ":")
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "_"):
			b.WriteByte('_')
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}

// evidence is the invoice's address, price and every payment to it.
func evidence(inv *cryptopay.Invoice) storage.ReviewEvidence {
	cur, _ := cryptopay.LookupCurrency(inv.Currency)
	ev := storage.ReviewEvidence{Network: string(inv.Network), Address: inv.Address, Asset: inv.Asset,
		Amount: cryptopay.FormatAmount(inv.Amount, cur.Decimals), Currency: inv.Currency,
		Payments: []storage.EvidencePayment{}}
	for _, p := range inv.Payments {
		asset, _ := p.Unit(inv)
		ev.Payments = append(ev.Payments, storage.EvidencePayment{TxID: p.TxID, Vout: p.Vout,
			Amount: p.AmountIn(inv), Asset: asset, FromAddress: p.FromAddress,
			Status: string(p.Status), SeenAt: p.SeenAt})
	}
	return ev
}
