package sqldb

import (
	"database/sql"
	"strings"

	"github.com/cryptopay/cryptopay"
)

// invoiceRow holds one invoice row's columns (invoiceCols) as the driver
// returns them. A list scans every row into the same invoiceRow through
// destinations built once, so a page costs no per-column allocations for
// the destinations themselves (scanning into locals behind an interface
// moved each of them to the heap, a seventh of a list's allocations).
type invoiceRow struct {
	id, storeID, currency, network, asset, rate, address, status string
	redirectURL, amountText                                      string
	amount, due, paid, confirmed, meta, ref, rateSources         string
	orderID                                                      sql.NullString
	livemode                                                     bool
	index, flags, created, expires, monitor                      int64
	confirmations, rateSpread                                    int
	settled, rateAt                                              sql.NullInt64
}

// dest returns the destinations of invoiceCols, in order.
func (r *invoiceRow) dest() []any {
	return []any{&r.id, &r.storeID, &r.livemode, &r.orderID, &r.amount, &r.currency,
		&r.network, &r.asset, &r.due, &r.rate, &r.address, &r.index, &r.status, &r.flags,
		&r.paid, &r.confirmed, &r.confirmations, &r.ref, &r.meta,
		&r.redirectURL, &r.created, &r.expires, &r.monitor, &r.settled, &r.amountText,
		&r.rateSources, &r.rateAt, &r.rateSpread}
}

// invoice decodes the row into inv, opening its sealed columns
// (customer_reference, metadata). A value that fails to open is an error
// wrapping the fieldcrypt error, never a garbled field.
func (s *queries) invoice(r *invoiceRow, inv *cryptopay.Invoice) error {
	*inv = cryptopay.Invoice{ID: r.id, StoreID: r.storeID, Livemode: r.livemode, OrderID: r.orderID.String,
		Currency: r.currency, Network: cryptopay.Network(r.network), Asset: r.asset, Rate: r.rate,
		Address: r.address, Status: cryptopay.Status(r.status), RequiredConfirmations: r.confirmations,
		RedirectURL: r.redirectURL, AmountText: r.amountText, RateSpreadBasisPoints: r.rateSpread}
	if r.rateSources != "" {
		inv.RateSources = strings.Split(r.rateSources, ",")
	}
	if r.rateAt.Valid {
		t := fromMicros(r.rateAt.Int64)
		inv.RateAt = &t
	}
	var err error
	if inv.Amount, err = parseAmount(r.amount); err != nil {
		return err
	}
	if inv.CryptoDue, err = parseAmount(r.due); err != nil {
		return err
	}
	if inv.AmountPaid, err = parseAmount(r.paid); err != nil {
		return err
	}
	if inv.AmountConfirmed, err = parseAmount(r.confirmed); err != nil {
		return err
	}
	if inv.AddressIndex, err = toUint32(r.index); err != nil {
		return err
	}
	if r.flags < 0 || r.flags > 0xffff {
		return errCorrupt
	}
	inv.Flags = cryptopay.Flag(r.flags)
	plainRef, err := s.open("invoices", "customer_reference", inv.ID, r.ref)
	if err != nil {
		return err
	}
	inv.CustomerReference = string(plainRef)
	plainMeta, err := s.open("invoices", "metadata", inv.ID, r.meta)
	if err != nil {
		return err
	}
	if err := fromJSON(string(plainMeta), &inv.Metadata); err != nil {
		return err
	}
	inv.CreatedAt, inv.ExpiresAt, inv.MonitorUntil = fromMicros(r.created), fromMicros(r.expires), fromMicros(r.monitor)
	inv.SettledAt = fromNullMicros(r.settled)
	return nil
}
