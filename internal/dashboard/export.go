package dashboard

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// maxExportRows bounds one export; a longer range is split by date.
const maxExportRows = 1_000_000

// export streams the store's invoices or payments created in a date range
// as CSV for accounting: amounts as exact decimal strings, times in UTC
// RFC 3339. Text a shop or payer chose (order ids) is neutralised against
// spreadsheet formula injection.
func (h *Handler) export(w http.ResponseWriter, r *http.Request, p *page) error {
	q := r.URL.Query()
	for k, vs := range q {
		if k != "kind" && k != "from" && k != "to" {
			return cryptopay.Invalid(k, "Unknown parameter %q.", k)
		}
		if len(vs) > 1 {
			return cryptopay.Invalid(k, "Parameter %q is given twice.", k)
		}
	}
	kind := q.Get("kind")
	if kind != "invoices" && kind != "payments" {
		return cryptopay.Invalid("kind", "Export invoices or payments.")
	}
	from, err := time.Parse(time.DateOnly, q.Get("from"))
	if err != nil {
		return cryptopay.Invalid("from", "from must be a date such as 2026-12-01.")
	}
	to, err := time.Parse(time.DateOnly, q.Get("to"))
	if err != nil || to.Before(from) {
		return cryptopay.Invalid("to", "to must be a date such as 2026-12-31, not before from.")
	}
	name := fmt.Sprintf("%s-%s-%s-%s.csv", p.Access.Store.ID, kind, q.Get("from"), q.Get("to"))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	cw := csv.NewWriter(w)
	if kind == "invoices" {
		_ = cw.Write([]string{"invoice_id", "created_at", "order_id", "status", "flags", "amount", "currency", "network",
			"asset", "crypto_due", "amount_paid", "amount_confirmed", "rate", "address", "settled_at"})
	} else {
		_ = cw.Write([]string{"invoice_id", "order_id", "payment_id", "txid", "output", "amount", "asset", "status",
			"block_height", "confirmations", "seen_at", "confirmed_at", "conflict_txid"})
	}
	after, rows := cryptopay.FirstIDAt(cryptopay.PrefixInvoice, to.Add(24*time.Hour)), 0
	for rows < maxExportRows {
		invs, more, err := h.svc.ListInvoices(r.Context(), p.Access.Caller, gateway.InvoiceQuery{Limit: 100, StartingAfter: after})
		if err != nil {
			h.log.ErrorContext(r.Context(), "dashboard export failed midway", "err", err)
			_ = cw.Write([]string{"# export incomplete: " + cryptopay.ErrorMessage(err)})
			break
		}
		stop := !more
		for _, inv := range invs {
			after = inv.ID
			if inv.CreatedAt.Before(from) {
				stop = true
				break
			}
			asset, _ := cryptopay.LookupCurrency(inv.Asset)
			if kind == "invoices" {
				_ = cw.Write([]string{inv.ID, stamp(&inv.CreatedAt), cell(inv.OrderID), string(inv.Status), inv.Flags.String(),
					inv.AmountNormalized(), inv.Currency, string(inv.Network), inv.Asset,
					cryptopay.FormatAmount(inv.CryptoDue, asset.Decimals), cryptopay.FormatAmount(inv.AmountPaid, asset.Decimals),
					cryptopay.FormatAmount(inv.AmountConfirmed, asset.Decimals), inv.Rate, inv.Address, stamp(inv.SettledAt)})
				rows++
				continue
			}
			for _, pm := range inv.Payments {
				_ = cw.Write([]string{inv.ID, cell(inv.OrderID), pm.ID, pm.TxID, strconv.FormatUint(uint64(pm.Vout), 10),
					pm.AmountIn(&inv), paymentAsset(&inv, &pm), string(pm.Status),
					strconv.FormatInt(pm.BlockHeight, 10), strconv.FormatInt(pm.Confirmations, 10), stamp(&pm.SeenAt),
					stamp(pm.ConfirmedAt), pm.ConflictTxID})
				rows++
			}
		}
		cw.Flush()
		if stop {
			break
		}
	}
	cw.Flush()
	return nil
}

// paymentAsset names what a payment paid, the invoice's asset unless it
// is a wrong_asset payment ("" for an old one whose token is unknown).
func paymentAsset(inv *cryptopay.Invoice, p *cryptopay.Payment) string {
	a, _ := p.Unit(inv)
	return a
}

func stamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// cell neutralises a free-text value that a spreadsheet would run as a
// formula (OWASP's CSV injection advice): a leading =, +, -, @, tab or
// carriage return gets a quote in front.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
