package sqldb

import (
	"database/sql"
	"strconv"
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
	// The metadata most invoices have, none ("null") or empty ("{}"),
	// decoded as fromJSON would, without encoding/json's reflection.
	switch string(plainMeta) {
	case "null": // a nil map
	case "{}":
		inv.Metadata = map[string]string{}
	default:
		if err := fromJSON(string(plainMeta), &inv.Metadata); err != nil {
			return err
		}
	}
	inv.CreatedAt, inv.ExpiresAt, inv.MonitorUntil = fromMicros(r.created), fromMicros(r.expires), fromMicros(r.monitor)
	inv.SettledAt = fromNullMicros(r.settled)
	return nil
}

// Column counts of invoiceCols and paymentCols.
var (
	invoiceColCount = strings.Count(invoiceCols, ",") + 1
	paymentColCount = strings.Count(paymentCols, ",") + 1
)

// fromText sets r from t's columns, invoiceCols in their text form
// (Dialect.QueryText), to what scanning them into r.dest() would.
func (r *invoiceRow) fromText(t *textCols) error {
	t.err = nil
	r.id, r.storeID, r.livemode, r.orderID = t.str(0), t.shared(1), t.bool(2), t.nullStr(3)
	r.amount, r.currency, r.network, r.asset = t.shared(4), t.shared(5), t.shared(6), t.shared(7)
	r.due, r.rate, r.address, r.index = t.shared(8), t.shared(9), t.str(10), t.int64(11)
	r.status, r.flags, r.paid, r.confirmed = t.shared(12), t.int64(13), t.shared(14), t.shared(15)
	r.confirmations, r.ref, r.meta, r.redirectURL = t.int(16), t.str(17), t.str(18), t.shared(19)
	r.created, r.expires, r.monitor, r.settled = t.int64(20), t.int64(21), t.int64(22), t.nullInt64(23)
	r.amountText, r.rateSources, r.rateAt, r.rateSpread = t.shared(24), t.shared(25), t.nullInt64(26), t.int(27)
	return t.err
}

// fromText sets p from t's columns, paymentCols in their text form, to
// what scanning them into p.dest() would.
func (p *nullPayment) fromText(t *textCols) error {
	t.err = nil
	p.id, p.invoiceID, p.txID, p.vout = t.nullStr(0), t.nullShared(1), t.nullStr(2), t.nullInt64(3)
	p.amount, p.blockHash, p.height, p.confirmations = t.nullStr(4), t.nullShared(5), t.nullInt64(6), t.nullInt64(7)
	p.conflict, p.rbf, p.from, p.status = t.nullStr(8), t.nullBool(9), t.nullStr(10), t.nullShared(11)
	p.seen, p.confirmed, p.asset, p.decimals = t.nullInt64(12), t.nullInt64(13), t.nullShared(14), t.nullInt64(15)
	p.released, p.releasedBy = t.nullInt64(16), t.nullShared(17)
	return t.err
}

// textCols decodes one row's columns from the text an engine sends
// (Dialect.QueryText: nil for NULL) into Go values, as database/sql's
// scan of the same columns into the same destinations would: a NULL into
// a non-NULL destination, an integer that does not parse or a boolean
// other than t/f is an error (kept in err: the first one wins).
//
// A value that rows repeat (the store, currency, status, amounts) is
// shared: while a column holds the same text as on the row before, the
// same string is returned, not a copy per row. One textCols reads one
// set of columns of one result, from one goroutine.
type textCols struct {
	cols [][]byte
	err  error
	last []string // by column: what shared returned on the previous row
}

func (t *textCols) fail() {
	if t.err == nil {
		t.err = errCorrupt
	}
}

func (t *textCols) str(i int) string {
	b := t.cols[i]
	if b == nil {
		t.fail()
	}
	return string(b)
}

// shared is str for a value many rows repeat.
func (t *textCols) shared(i int) string {
	b := t.cols[i]
	if b == nil {
		t.fail()
		return ""
	}
	if t.last == nil {
		t.last = make([]string, len(t.cols))
	}
	if t.last[i] != string(b) {
		t.last[i] = string(b)
	}
	return t.last[i]
}

func (t *textCols) nullStr(i int) sql.NullString {
	if t.cols[i] == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: t.str(i), Valid: true}
}

func (t *textCols) nullShared(i int) sql.NullString {
	if t.cols[i] == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: t.shared(i), Valid: true}
}

func (t *textCols) int64(i int) int64 {
	b := t.cols[i]
	if b == nil {
		t.fail()
		return 0
	}
	if len(b) > 0 && len(b) <= 18 {
		// Up to 18 digits cannot overflow: summed here, without
		// strconv's generality (a seventh of a page's decoding).
		var v int64
		for _, c := range b {
			if c < '0' || c > '9' {
				v = -1
				break
			}
			v = v*10 + int64(c-'0')
		}
		if v >= 0 {
			return v
		}
	}
	v, err := strconv.ParseInt(string(b), 10, 64) // negative, long or malformed
	if err != nil {
		t.fail()
	}
	return v
}

func (t *textCols) int(i int) int {
	v := t.int64(i)
	if int64(int(v)) != v {
		t.fail()
	}
	return int(v)
}

func (t *textCols) nullInt64(i int) sql.NullInt64 {
	if t.cols[i] == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.int64(i), Valid: true}
}

func (t *textCols) bool(i int) bool {
	switch string(t.cols[i]) {
	case "t":
		return true
	case "f":
		return false
	}
	t.fail()
	return false
}

func (t *textCols) nullBool(i int) sql.NullBool {
	if t.cols[i] == nil {
		return sql.NullBool{}
	}
	return sql.NullBool{Bool: t.bool(i), Valid: true}
}
