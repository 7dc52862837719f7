package cli

import (
	"encoding/csv"
	"encoding/json"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// TestReportsTransactions: `cryptopay reports transactions` lists every
// payment, in CSV and in JSON, with its invoice's locked rate and its fiat
// value, on both engines. The expected values are worked out here from
// first principles: the configured rate (65432.10 USD, 60321.09 EUR per
// BTC) times the amount paid, exactly, rounded down to the cent, written
// out by hand below. The invoices: one paid in full, one partly paid, one
// overpaid by a second, large payment (where a value taken as a share of
// the price would fall short, the crypto due having been rounded up), one
// in EUR and one priced in BTC (no rate, no fiat value).
func TestReportsTransactions(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			e := &secEnv{t: t, vars: map[string]string{
				"CRYPTOPAY_DATA_DIR": t.TempDir(),
				"CRYPTOPAY_RATES":    "BTC_USD=65432.10,BTC_EUR=60321.09",
			}}
			if engine == "postgres" {
				e.vars["CRYPTOPAY_DATABASE_URL"] = testdb.PostgresURL(t) // skips without PostgreSQL
			}
			e.vars["CRYPTOPAY_ENCRYPTION_KEY"] = strings.TrimSpace(e.must("encryption", "keygen"))
			e.must("migrate")
			env := Env{Getenv: func(k string) string { return e.vars[k] }}

			type payment struct{ order, amount, fiat string }
			want := []payment{ // amount × rate, rounded down to the cent
				{"full", "0.00152831", "100.00"},   // 100.0005327510
				{"partial", "0.00050000", "32.71"}, // 32.7160500000
				{"over", "0.00038208", "25.00"},    // 25.0002967680
				{"over", "0.50000000", "32716.05"}, // 32716.0500000000 (a share of 25.00 would say 32715.66)
				{"eur", "0.00010000", "6.03"},      // 6.0321090000 EUR
				{"btc", "0.00100000", ""},          // priced in BTC: no rate
			}
			wantRate := map[string]string{"full": "65432.10", "partial": "65432.10", "over": "65432.10", "eur": "60321.09", "btc": ""}
			wantCur := map[string]string{"full": "USD", "partial": "USD", "over": "USD", "eur": "EUR", "btc": "BTC"}

			withTestApp(t, env, func(a *app) any {
				ctx := t.Context()
				st, err := a.svc.CreateStore(ctx, gateway.StoreParams{Name: "shop",
					Wallets: []gateway.WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: regtestAccountKey(t)}}})
				if err != nil {
					t.Fatal(err)
				}
				k, err := a.svc.CreateKey(ctx, gateway.KeyParams{StoreID: st.ID, Name: "shop", Scopes: []string{"invoices:write"}})
				if err != nil {
					t.Fatal(err)
				}
				invs := map[string]*cryptopay.Invoice{}
				for _, c := range []struct{ order, amount, currency string }{
					{"full", "100.00", "USD"}, {"partial", "100.00", "USD"}, {"over", "25.00", "USD"},
					{"eur", "20.00", "EUR"}, {"btc", "0.001", "BTC"},
				} {
					inv, err := a.svc.CreateInvoice(ctx, k.Key, gateway.InvoiceParams{OrderID: c.order, Amount: c.amount, Currency: c.currency})
					if err != nil {
						t.Fatal(err)
					}
					invs[c.order] = inv
				}
				// Payments as the chain watcher records them (the watcher's
				// own tests cover detection; this covers the report).
				now := time.Now().UTC().Truncate(time.Second)
				for i, p := range want {
					units, err := cryptopay.ParseAmount("amount", p.amount, 8)
					if err != nil {
						t.Fatal(err)
					}
					confirmed := now
					pay := &cryptopay.Payment{ID: cryptopay.NewID(cryptopay.PrefixPayment, now), InvoiceID: invs[p.order].ID,
						TxID: strings.Repeat(string(rune('a'+i)), 64), Vout: uint32(i), Amount: units, FromAddress: "bcrt1qsender",
						Status: cryptopay.PaymentConfirmed, BlockHash: strings.Repeat("0", 64), BlockHeight: 200, Confirmations: 3,
						SeenAt: now, ConfirmedAt: &confirmed}
					if p.order == "partial" {
						pay.Status, pay.BlockHash, pay.BlockHeight, pay.Confirmations, pay.ConfirmedAt = cryptopay.PaymentPending, "", 0, 0, nil
					}
					if err := a.db.InTx(ctx, func(tx storage.Tx) error { return tx.CreatePayment(ctx, pay) }); err != nil {
						t.Fatal(err)
					}
				}
				return nil
			})

			// The day's report, both formats.
			from, to := time.Now().UTC().Format(time.DateOnly), time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
			rows, err := csv.NewReader(strings.NewReader(e.must("reports", "transactions", "--from", from, "--to", to))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			col := map[string]int{}
			for i, h := range rows[0] {
				col[h] = i
			}
			var jsonOut struct {
				Transactions []map[string]any `json:"transactions"`
			}
			if err := json.Unmarshal([]byte(e.must("reports", "transactions", "--from", from, "--to", to, "--format", "json")), &jsonOut); err != nil {
				t.Fatal(err)
			}
			type line struct{ order, amount, rate, currency, fiat string }
			var gotCSV, gotJSON, wantLines []line
			for _, r := range rows[1:] {
				gotCSV = append(gotCSV, line{r[col["order_id"]], r[col["amount"]], r[col["rate"]], r[col["currency"]], r[col["fiat_value"]]})
			}
			for _, r := range jsonOut.Transactions {
				s := func(k string) string { v, _ := r[k].(string); return v }
				gotJSON = append(gotJSON, line{s("order_id"), s("amount"), s("rate"), s("currency"), s("fiat_value")})
			}
			for _, p := range want {
				wantLines = append(wantLines, line{p.order, p.amount, wantRate[p.order], wantCur[p.order], p.fiat})
			}
			sortLines := func(ls []line) {
				slices.SortFunc(ls, func(a, b line) int { return strings.Compare(a.order+a.amount, b.order+b.amount) })
			}
			for _, got := range []struct {
				name  string
				lines []line
			}{{"csv", gotCSV}, {"json", gotJSON}} {
				sortLines(got.lines)
				sortLines(wantLines)
				if len(got.lines) != len(wantLines) {
					t.Fatalf("%s: %d payments, want %d: %+v", got.name, len(got.lines), len(wantLines), got.lines)
				}
				for i, g := range got.lines {
					w := wantLines[i]
					// The rate is printed with more decimals than it has;
					// compare it as a number.
					if g.order != w.order || g.amount != w.amount || g.currency != w.currency || g.fiat != w.fiat || !sameNumber(g.rate, w.rate) {
						t.Errorf("%s: payment %+v, want %+v", got.name, g, w)
					}
				}
			}

			// Outside the period: nothing.
			if out := e.must("reports", "transactions", "--from", "2000-01-01", "--to", "2000-01-02"); strings.Count(out, "\n") != 1 {
				t.Fatalf("a period without invoices: %q, want the header only", out)
			}
			if code, _, errs := e.run("reports", "transactions", "--from", to, "--to", from); code == 0 || !strings.Contains(errs, "--to") {
				t.Fatalf("--to before --from: exit %d %q", code, errs)
			}
		})
	}
}

// sameNumber compares two decimal strings by value ("" only equals "").
func sameNumber(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}
