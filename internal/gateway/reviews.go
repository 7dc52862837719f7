package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Suspicious activity and records (the guide's Compliance section):
// reviews opened by monitoring alerts (internal/watcher/review.go), staff
// resolving them, and the exports an operator hands to a regulator or an
// accountant.

// PrefixReview starts review ids.
const PrefixReview = "rev"

// ReviewQuery filters reviews; From/To bound when they were opened.
type ReviewQuery struct {
	Status        string
	From, To      time.Time
	Limit         int
	StartingAfter string
	StoreID       string // operators only; "" is every store
}

// ListReviews lists reviews newest first: the caller's store and mode, or
// for an operator (nil caller) q.StoreID's or every store's.
func (s *Service) ListReviews(ctx context.Context, caller *cryptopay.APIKey, q ReviewQuery) ([]storage.Review, bool, error) {
	f := storage.ReviewFilter{StoreID: q.StoreID, From: q.From, To: q.To}
	if caller != nil {
		f.StoreID, f.Livemode = caller.StoreID, &caller.Livemode
	}
	switch q.Status {
	case "", storage.ReviewOpen, storage.ReviewResolved:
		f.Status = q.Status
	default:
		return nil, false, cryptopay.Invalid("status", "status must be open or resolved.")
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return nil, false, cryptopay.Invalid("to", "to must be after from.")
	}
	page, err := parsePage(q.Limit, q.StartingAfter, PrefixReview)
	if err != nil {
		return nil, false, err
	}
	f.Page = page
	return s.db.ListReviews(ctx, f)
}

// AllReviews returns every review matching q, newest first, for exports.
func (s *Service) AllReviews(ctx context.Context, caller *cryptopay.APIKey, q ReviewQuery) ([]storage.Review, error) {
	var out []storage.Review
	q.Limit = maxListLimit
	for {
		page, more, err := s.ListReviews(ctx, caller, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if !more {
			return out, nil
		}
		q.StartingAfter = page[len(page)-1].ID
	}
}

// ResolveReview resolves an open review with a note, recording who did it
// in the review and the audit log in one transaction. A resolved review
// is a CodeInvalidState error.
func (s *Service) ResolveReview(ctx context.Context, caller *cryptopay.APIKey, id, note string) (*storage.Review, error) {
	if !cryptopay.ValidID(PrefixReview, id) {
		return nil, cryptopay.Invalid("id", "%q is not a review id.", id)
	}
	if err := validateText("note", note, 2000, true); err != nil {
		return nil, err
	}
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		r, err := tx.GetReview(ctx, id)
		if errors.Is(err, storage.ErrNotFound) || err == nil && !visibleTo(caller, r.StoreID, r.Livemode) {
			return notFound("review", id)
		}
		if err != nil {
			return err
		}
		if r.Status != storage.ReviewOpen {
			return cryptopay.Errorf(cryptopay.CodeInvalidState, "Review %s is already resolved.", id)
		}
		if err := tx.ResolveReview(ctx, id, ActorFrom(ctx).Name(), note, s.Now()); err != nil {
			return err
		}
		return s.Audit(ctx, tx, AuditRecord{StoreID: r.StoreID, Livemode: r.Livemode, Action: AuditReviewResolved,
			Target: id, Details: map[string]any{"invoice_id": r.InvoiceID, "rule": r.Rule, "note": note}})
	})
	if err != nil {
		return nil, err
	}
	return s.db.GetReview(ctx, id)
}

// TransactionRow is one payment in the accounting export.
type TransactionRow struct {
	StoreID     string    `json:"store_id"`
	Livemode    bool      `json:"livemode"`
	InvoiceID   string    `json:"invoice_id"`
	OrderID     string    `json:"order_id"`
	Network     string    `json:"network"`
	Address     string    `json:"address"`
	TxID        string    `json:"txid"`
	Vout        uint32    `json:"vout"`
	FromAddress string    `json:"from_address"`
	Asset       string    `json:"asset"`
	Amount      string    `json:"amount"`
	Status      string    `json:"status"`
	SeenAt      time.Time `json:"seen_at"`
	ConfirmedAt string    `json:"confirmed_at"`
	// Rate is the invoice's locked rate (asset price in Currency), ""
	// when the invoice was priced in the asset itself.
	Rate     string `json:"rate"`
	Currency string `json:"currency"`
	// FiatValue is Amount × Rate in Currency, exact and rounded down to
	// the currency's minor unit ("" for an invoice priced in the asset):
	// what an accountant recomputes from the two columns beside it.
	FiatValue     string `json:"fiat_value"`
	InvoiceStatus string `json:"invoice_status"`
}

// Transactions returns every payment to invoices created in [from, to)
// of every store and mode, with its invoice's rate and its fiat value.
func (s *Service) Transactions(ctx context.Context, from, to time.Time) ([]TransactionRow, error) {
	if !to.IsZero() && !from.Before(to) {
		return nil, cryptopay.Invalid("to", "to must be after from.")
	}
	stores, err := s.db.ListStores(ctx)
	if err != nil {
		return nil, err
	}
	var out []TransactionRow
	for _, st := range stores {
		after := ""
		for {
			invs, more, err := s.db.ListInvoices(ctx, storage.InvoiceFilter{StoreID: st.ID, Livemode: st.Livemode,
				Page: storage.Page{Limit: 500, StartingAfter: after}})
			if err != nil {
				return nil, err
			}
			for _, inv := range invs {
				if inv.CreatedAt.Before(from) || !to.IsZero() && !inv.CreatedAt.Before(to) {
					continue
				}
				for _, p := range inv.Payments {
					out = append(out, transactionRow(&inv, &p))
				}
			}
			if !more {
				break
			}
			after = invs[len(invs)-1].ID
		}
	}
	return out, nil
}

func transactionRow(inv *cryptopay.Invoice, p *cryptopay.Payment) TransactionRow {
	asset, _ := p.Unit(inv) // a wrong_asset payment in its own asset and decimals
	r := TransactionRow{StoreID: inv.StoreID, Livemode: inv.Livemode, InvoiceID: inv.ID, OrderID: inv.OrderID,
		Network: string(inv.Network), Address: inv.Address, TxID: p.TxID, Vout: p.Vout, FromAddress: p.FromAddress,
		Asset: asset, Amount: p.AmountIn(inv), Status: string(p.Status),
		SeenAt: p.SeenAt, Rate: inv.Rate, Currency: inv.Currency, InvoiceStatus: string(inv.Status)}
	if p.ConfirmedAt != nil {
		r.ConfirmedAt = p.ConfirmedAt.Format(time.RFC3339)
	}
	// At the locked rate, not pro rata of the price: the crypto due was
	// rounded up, so a price share would undervalue an overpayment. A
	// payment in another asset has no locked rate and no fiat value.
	if cur, ok := cryptopay.LookupCurrency(inv.Currency); ok && !cur.Crypto && inv.Rate != "" && p.SameAsset(inv) {
		if rate, ok := new(big.Rat).SetString(inv.Rate); ok {
			units, _ := cryptopay.LookupCurrency(inv.Asset)
			r.FiatValue = cryptopay.FormatAmount(cryptopay.FiatValue(p.Amount, units, rate, cur), cur.Decimals)
		}
	}
	return r
}

// RunRetention redacts the personal fields (customer reference, metadata)
// of invoices older than their store's personal retention, records each
// store's redaction in the audit log, and never deletes a row. It returns
// how many invoices it redacted. Each store resumes where its last run
// stopped (ComplianceSettings.RedactedThrough), so a daily run touches only
// the invoices that aged past retention since.
func (s *Service) RunRetention(ctx context.Context) (int, error) {
	stores, err := s.db.ListStores(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	now := s.Now()
	for _, st := range stores {
		c, err := s.db.GetComplianceSettings(ctx, st.ID)
		if errors.Is(err, storage.ErrNotFound) || err == nil && c.PersonalRetentionDays == 0 {
			continue
		}
		if err != nil {
			return total, err
		}
		cutoff := now.AddDate(0, 0, -c.PersonalRetentionDays)
		if !c.RedactedThrough.Before(cutoff) {
			continue
		}
		for {
			ids, err := s.db.ListInvoiceIDsCreated(ctx, st.ID, c.RedactedThrough, cutoff, 200)
			if err != nil {
				return total, err
			}
			// One transaction per batch: its redactions, its audit entry
			// and the store's progress commit together.
			err = s.db.InTx(ctx, func(tx storage.Tx) error {
				for _, id := range ids {
					if err := tx.RedactInvoice(ctx, id); err != nil {
						return err
					}
				}
				through := cutoff
				if len(ids) == 200 {
					last, err := tx.GetInvoice(ctx, ids[len(ids)-1])
					if err != nil {
						return err
					}
					through = last.CreatedAt.Add(time.Microsecond)
				}
				if err := tx.SetRedactedThrough(ctx, st.ID, through); err != nil {
					return err
				}
				c.RedactedThrough = through
				if len(ids) == 0 {
					return nil
				}
				return s.Audit(ctx, tx, AuditRecord{StoreID: st.ID, Livemode: st.Livemode, Action: AuditRetentionRedacted,
					Target: st.ID, Details: map[string]any{"invoices": len(ids), "first": ids[0], "last": ids[len(ids)-1],
						"created_before": through.Format(time.RFC3339), "retention_days": c.PersonalRetentionDays,
						"fields": []string{"customer_reference", "metadata"}}})
			})
			if err != nil {
				return total, fmt.Errorf("retention of store %s: %w", st.ID, err)
			}
			total += len(ids)
			if len(ids) < 200 {
				break
			}
		}
	}
	return total, nil
}
