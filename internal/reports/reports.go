// Package reports renders the compliance exports an operator hands to a
// regulator, an accountant or a data subject: suspicious activity (reviews
// and their evidence) as CSV or JSON, and a customer's data export. The
// command line and the HTTP API print the same bytes through it. It reads
// nothing itself.
package reports

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ReviewView is a review on the wire and in exports.
type ReviewView struct {
	ID         string                 `json:"id"`
	StoreID    string                 `json:"store_id"`
	Livemode   bool                   `json:"livemode"`
	InvoiceID  string                 `json:"invoice_id"`
	Rule       string                 `json:"rule"`
	Title      string                 `json:"title"`
	Text       string                 `json:"text"`
	Status     string                 `json:"status"`
	OpenedAt   time.Time              `json:"opened_at"`
	ResolvedAt *time.Time             `json:"resolved_at"`
	ResolvedBy string                 `json:"resolved_by"`
	Note       string                 `json:"note"`
	Evidence   storage.ReviewEvidence `json:"evidence"`
}

func ReviewViews(rs []storage.Review) []ReviewView {
	out := make([]ReviewView, len(rs))
	for i, r := range rs {
		out[i] = ReviewView{r.ID, r.StoreID, r.Livemode, r.InvoiceID, r.Rule, r.Title, r.Text, r.Status, r.OpenedAt,
			r.ResolvedAt, r.ResolvedBy, r.Note, r.Evidence}
	}
	return out
}

// WriteSAR writes reviews and their evidence as a suspicious activity
// report: JSON, or CSV with one row per payment of the evidence (a review
// without payments has one row).
func WriteSAR(w io.Writer, format string, rs []storage.Review) error {
	switch format {
	case "json":
		return writeJSON(w, map[string]any{"reviews": ReviewViews(rs)})
	case "csv":
	default:
		return cryptopay.Invalid("format", "format must be csv or json.")
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"review_id", "store_id", "livemode", "invoice_id", "rule", "title", "status", "opened_at",
		"resolved_at", "resolved_by", "note", "network", "address", "invoice_amount", "invoice_currency",
		"txid", "vout", "payment_amount", "asset", "from_address", "payment_status", "seen_at", "text"})
	for _, r := range rs {
		resolved := ""
		if r.ResolvedAt != nil {
			resolved = r.ResolvedAt.Format(time.RFC3339)
		}
		base := []string{r.ID, r.StoreID, strconv.FormatBool(r.Livemode), r.InvoiceID, r.Rule, r.Title, r.Status,
			r.OpenedAt.Format(time.RFC3339), resolved, r.ResolvedBy, r.Note, r.Evidence.Network, r.Evidence.Address,
			r.Evidence.Amount, r.Evidence.Currency}
		pays := r.Evidence.Payments
		if len(pays) == 0 {
			pays = []storage.EvidencePayment{{}}
		}
		for _, p := range pays {
			seen := ""
			if !p.SeenAt.IsZero() {
				seen = p.SeenAt.Format(time.RFC3339)
			}
			row := append(append([]string{}, base...), p.TxID, strconv.FormatUint(uint64(p.Vout), 10), p.Amount, cmp.Or(p.Asset, r.Evidence.Asset),
				p.FromAddress, p.Status, seen, csvSafe(r.Text))
			if err := cw.Write(CSVRow(row)); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvRow neutralises cells a spreadsheet would run as a formula (a note
// typed by staff, an order id chosen by a shop).
func CSVRow(row []string) []string {
	for i, c := range row {
		row[i] = csvSafe(c)
	}
	return row
}

func csvSafe(c string) string {
	if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
		return "'" + c
	}
	return c
}

// ExportView renders a customer export: everything held, as JSON.
func ExportView(x *gateway.CustomerExport) map[string]any {
	invs := make([]map[string]any, len(x.Invoices))
	for i, inv := range x.Invoices {
		cur, _ := cryptopay.LookupCurrency(inv.Currency)
		asset, _ := cryptopay.LookupCurrency(inv.Asset)
		pays := make([]map[string]any, len(inv.Payments))
		for j, p := range inv.Payments {
			pa, _ := p.Unit(&inv)
			pays[j] = map[string]any{"txid": p.TxID, "vout": p.Vout, "amount": p.AmountIn(&inv), "asset": pa,
				"from_address": p.FromAddress, "status": p.Status, "confirmations": p.Confirmations, "seen_at": p.SeenAt}
		}
		invs[i] = map[string]any{"id": inv.ID, "order_id": inv.OrderID, "livemode": inv.Livemode,
			"amount": cryptopay.FormatAmount(inv.Amount, cur.Decimals), "currency": inv.Currency,
			"network": inv.Network, "address": inv.Address, "crypto_due": cryptopay.FormatAmount(inv.CryptoDue, asset.Decimals),
			"asset": inv.Asset, "rate": inv.Rate, "status": inv.Status, "customer_reference": inv.CustomerReference,
			"metadata": inv.Metadata, "redirect_url": inv.RedirectURL, "created_at": inv.CreatedAt, "expires_at": inv.ExpiresAt,
			"payments": pays}
	}
	return map[string]any{"customer_reference": x.CustomerReference, "store_id": x.StoreID, "subject_id": x.Subject,
		"erased": x.Erased, "exported_at": x.ExportedAt, "invoices": invs, "reviews": ReviewViews(x.Reviews)}
}
