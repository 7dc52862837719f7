package storagetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// listExplainer is implemented by the SQL engines: the plan of the
// statement ListInvoices runs for a filter.
type listExplainer interface {
	ExplainListInvoices(ctx context.Context, f storage.InvoiceFilter, analyze bool) ([]string, error)
}

// testListInvoicesFilters checks the filters the dashboard uses beyond
// status and order id (flag, price, creation time), alone and combined,
// through every page.
func testListInvoicesFilters(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "filters")
	other := newStore(t, "filters-other")

	// 40 invoices, 1 ms apart: every 4th flagged paid_over (every 8th also
	// held); prices cycle through 12.50 EUR, 12.50 USD, 1250 JPY (the
	// same base units as 12.50 EUR, another price), 12.5 USDT.
	// Their times lie ahead of every id this process made, so each id
	// carries its invoice's creation time (ids are monotonic per process).
	start := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	at := func(n int) time.Time { return start.Add(time.Duration(n) * time.Millisecond) }
	type want struct{ all, overpaid, held, euro1250, price1250, jpy, from10to20, settledOver []string }
	var w want
	inTx(t, db, func(tx storage.Tx) error {
		for _, s := range []*cryptopay.Store{st, other} {
			if err := tx.CreateStore(ctx, s); err != nil {
				return err
			}
		}
		for n := range 40 {
			inv := newInvoice(st, n, "")
			inv.ID, inv.CreatedAt = cryptopay.NewID(cryptopay.PrefixInvoice, at(n)), at(n)
			switch n % 4 {
			case 0:
				inv.Amount, inv.Currency = big.NewInt(12_50), "EUR"
			case 1:
				inv.Amount, inv.Currency = big.NewInt(12_50), "USD"
			case 2:
				inv.Amount, inv.Currency = big.NewInt(1250), "JPY"
			case 3:
				inv.Amount, inv.Currency = big.NewInt(12_500_000), "USDT"
			}
			if n%4 == 0 {
				inv.Flags |= cryptopay.FlagPaidOver
				inv.Status = cryptopay.StatusSettled
			}
			if n%8 == 0 {
				inv.Flags |= cryptopay.FlagHeld
				inv.Status = cryptopay.StatusProcessing
			}
			if err := tx.CreateInvoice(ctx, inv); err != nil {
				return err
			}
			w.all = append(w.all, inv.ID)
			if n%4 == 0 {
				w.overpaid = append(w.overpaid, inv.ID)
				w.euro1250 = append(w.euro1250, inv.ID)
			}
			if n%8 == 0 {
				w.held = append(w.held, inv.ID)
			}
			if n%4 == 0 && n%8 != 0 {
				w.settledOver = append(w.settledOver, inv.ID)
			}
			if n%4 != 2 {
				w.price1250 = append(w.price1250, inv.ID)
			} else {
				w.jpy = append(w.jpy, inv.ID)
			}
			if n >= 10 && n < 20 {
				w.from10to20 = append(w.from10to20, inv.ID)
			}
		}
		// Another store's flagged invoice at the same price: never listed.
		inv := newInvoice(other, 100, "")
		inv.Flags = cryptopay.FlagPaidOver | cryptopay.FlagHeld
		return tx.CreateInvoice(ctx, inv)
	})
	for _, ids := range []*[]string{&w.all, &w.overpaid, &w.held, &w.euro1250, &w.price1250, &w.jpy, &w.from10to20, &w.settledOver} {
		slices.Reverse(*ids)
	}
	// 12.50 as the gateway turns it into prices: one per number of decimals.
	price1250 := []storage.Price{
		{Amount: big.NewInt(12_50), Currencies: []string{"EUR", "USD"}},
		{Amount: big.NewInt(12_500_000), Currencies: []string{"USDT"}},
	}
	tests := []struct {
		name   string
		filter storage.InvoiceFilter
		limit  int
		want   []string
	}{
		{"flag", storage.InvoiceFilter{Flag: cryptopay.FlagPaidOver}, 3, w.overpaid},
		{"two flags: both must be set", storage.InvoiceFilter{Flag: cryptopay.FlagPaidOver | cryptopay.FlagHeld}, 2, w.held},
		{"flag nobody has", storage.InvoiceFilter{Flag: cryptopay.FlagReorged}, 3, nil},
		{"flag and status", storage.InvoiceFilter{Flag: cryptopay.FlagPaidOver, Status: cryptopay.StatusSettled}, 2, w.settledOver},
		{"one price in one currency", storage.InvoiceFilter{Prices: []storage.Price{{Amount: big.NewInt(12_50), Currencies: []string{"EUR"}}}}, 4, w.euro1250},
		{"price in base units of several decimals, merged in id order", storage.InvoiceFilter{Prices: price1250}, 7, w.price1250},
		{"price, one page holds all", storage.InvoiceFilter{Prices: price1250}, 100, w.price1250},
		{"price is per currency: 1250 base units of JPY", storage.InvoiceFilter{Prices: []storage.Price{{Amount: big.NewInt(1250), Currencies: []string{"JPY"}}}}, 3, w.jpy},
		{"price and flag", storage.InvoiceFilter{Prices: price1250, Flag: cryptopay.FlagHeld}, 1, w.held},
		{"price nobody has", storage.InvoiceFilter{Prices: []storage.Price{{Amount: big.NewInt(1), Currencies: []string{"EUR"}}}}, 3, nil},
		{"created from, to before", storage.InvoiceFilter{CreatedFrom: at(10), CreatedBefore: at(20)}, 3, w.from10to20},
		{"created from only", storage.InvoiceFilter{CreatedFrom: at(30)}, 4, w.all[:10]},
		{"created before only", storage.InvoiceFilter{CreatedBefore: at(5)}, 4, w.all[35:]},
		{"empty range", storage.InvoiceFilter{CreatedFrom: at(20), CreatedBefore: at(20)}, 4, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.filter
			f.StoreID = st.ID
			got := pageAll(t, tc.limit, func(inv cryptopay.Invoice) string { return inv.ID },
				func(p storage.Page) ([]cryptopay.Invoice, bool, error) {
					f.Page = p
					return db.ListInvoices(ctx, f)
				})
			diff(t, "ids newest first", tc.want, got)
		})
	}
}

// planShape is one list query the API or the dashboard runs, and the
// index it must walk.
type planShape struct {
	name   string
	filter storage.InvoiceFilter
	index  []string // acceptable index names (either engine's)
}

// testListInvoicesPlans seeds a store with enough invoices that a full
// scan would show (the distribution of a shop: most settled or expired,
// few flagged, many distinct prices), and asserts that every list shape
// the API and the dashboard use walks an index led by (store_id,
// livemode) in id order: no full scan of invoices and no sort of them,
// so a page stays fast at a million invoices. A change to the query or
// the indexes that loses this fails here, on both engines.
func testListInvoicesPlans(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	ex, ok := db.(listExplainer)
	if !ok {
		t.Skipf("%s does not explain its plans", db.Engine())
	}
	// Two stores of 20,000 invoices each, over the same weeks: the store's
	// rows are half the table, as they would be a fraction of it in a
	// shared deployment, so a walk of the primary key with the store as a
	// filter is not an option the planner should take.
	st := newStore(t, "plans")
	other := newStore(t, "plans-other")
	for i, s := range []*cryptopay.Store{st, other} {
		tmpl := newInvoice(s, 0, "template")
		pay := &cryptopay.Payment{ID: cryptopay.NewID(cryptopay.PrefixPayment, base), InvoiceID: tmpl.ID,
			TxID: "template-" + s.ID, Amount: big.NewInt(7), Status: cryptopay.PaymentPending, SeenAt: us(base)}
		inTx(t, db, func(tx storage.Tx) error {
			if err := tx.CreateStore(ctx, s); err != nil {
				return err
			}
			if err := tx.CreateInvoice(ctx, tmpl); err != nil {
				return err
			}
			return tx.CreatePayment(ctx, pay)
		})
		seedInvoiceCopies(t, db, tmpl.ID, pay.ID, 20_000, time.Duration(i)*30*time.Second)
	}

	cursor := cryptopay.FirstIDAt(cryptopay.PrefixInvoice, base.Add(-7*24*time.Hour)) // mid-list
	price := []storage.Price{{Amount: big.NewInt(1234), Currencies: []string{"EUR", "USD"}}}
	prices := append(price, storage.Price{Amount: big.NewInt(12_340_000), Currencies: []string{"USDT"}})
	day := base.Add(-24 * time.Hour)
	shapes := []planShape{
		{"first page", storage.InvoiceFilter{}, []string{"invoices_list_idx"}},
		{"page after a cursor", storage.InvoiceFilter{Page: storage.Page{StartingAfter: cursor}}, []string{"invoices_list_idx"}},
		{"status", storage.InvoiceFilter{Status: cryptopay.StatusExpired}, []string{"invoices_status_idx"}},
		{"rare status after a cursor", storage.InvoiceFilter{Status: cryptopay.StatusInvalid, Page: storage.Page{StartingAfter: cursor}}, []string{"invoices_status_idx"}},
		{"order id", storage.InvoiceFilter{OrderID: "o-77"}, []string{"invoices_store_order_key", "sqlite_autoindex_invoices_2"}},
		{"flag", storage.InvoiceFilter{Flag: cryptopay.FlagHeld}, []string{"invoices_flagged_idx"}},
		{"flag after a cursor", storage.InvoiceFilter{Flag: cryptopay.FlagHeld, Page: storage.Page{StartingAfter: cursor}}, []string{"invoices_flagged_idx"}},
		{"flag and status", storage.InvoiceFilter{Flag: cryptopay.FlagHeld, Status: cryptopay.StatusSettled}, []string{"invoices_flagged_idx"}},
		{"date range", storage.InvoiceFilter{CreatedFrom: day, CreatedBefore: base}, []string{"invoices_list_idx"}},
		{"date range and status", storage.InvoiceFilter{CreatedFrom: day, CreatedBefore: base, Status: cryptopay.StatusSettled}, []string{"invoices_status_idx"}},
		{"price", storage.InvoiceFilter{Prices: price}, []string{"invoices_price_idx"}},
		{"price of several decimals", storage.InvoiceFilter{Prices: prices}, []string{"invoices_price_idx"}},
		{"price and status after a cursor", storage.InvoiceFilter{Prices: price, Status: cryptopay.StatusSettled, Page: storage.Page{StartingAfter: cursor}}, []string{"invoices_price_idx", "invoices_status_idx"}},
	}
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			f := sh.filter
			f.StoreID = st.ID
			plan, err := ex.ExplainListInvoices(ctx, f, false)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("plan:\n%s", strings.Join(plan, "\n")) // shown with -v
			if msg := checkListPlan(db.Engine(), plan, sh.index); msg != "" {
				t.Errorf("%s\nplan:\n%s", msg, strings.Join(plan, "\n"))
			}
		})
	}
}

// checkListPlan returns why plan is not an index walk of invoices through
// one of indexes, stopped by the page's LIMIT, or "". Plan lines are
// indented by depth (two spaces a level on SQLite, as ExplainListInvoices
// returns them; PostgreSQL's own "->" layout).
func checkListPlan(engine string, plan []string, indexes []string) string {
	text := strings.Join(plan, "\n")
	used := false
	for _, ix := range indexes {
		used = used || strings.Contains(text, ix)
	}
	if !used {
		return fmt.Sprintf("no use of %s", strings.Join(indexes, " or "))
	}
	type node struct {
		depth int
		text  string
	}
	var nodes []node
	for _, line := range plan {
		l := strings.TrimLeft(line, " ")
		depth := len(line) - len(l)
		if engine == "postgres" {
			if depth > 0 && !strings.HasPrefix(l, "->") {
				continue // a node's detail (Index Cond, Filter, Sort Key)
			}
			l = strings.TrimSpace(strings.TrimPrefix(l, "->"))
		}
		nodes = append(nodes, node{depth, l})
	}
	for i, n := range nodes {
		switch engine {
		case "sqlite":
			// "SCAN t" reads the whole table (or a whole index), "SEARCH t
			// USING INDEX" seeks. A temporary B-tree after the walk of
			// invoices, at its level, sorts every row the walk finds.
			if strings.HasPrefix(n.text, "SCAN invoices") || n.text == "SCAN p" || strings.HasPrefix(n.text, "SCAN p ") {
				return "a full scan: " + n.text
			}
			if !strings.HasPrefix(n.text, "SEARCH invoices") {
				continue
			}
			for _, m := range nodes[i+1:] {
				if m.depth < n.depth {
					break
				}
				if m.depth == n.depth && strings.Contains(m.text, "TEMP B-TREE") {
					return "the walk of invoices is sorted: " + m.text
				}
			}
		case "postgres":
			// A sequential or bitmap scan reads out of id order; a sort
			// between an invoices scan and the LIMIT above it sorts every
			// row the scan finds.
			// (payments are not checked: for a page of 101 invoices
			// PostgreSQL hashes a small payments table and probes
			// payments_invoice_idx once payments outgrow the page.)
			if strings.HasPrefix(n.text, "Seq Scan on invoices") || strings.HasPrefix(n.text, "Bitmap Heap Scan on invoices") {
				return "not an index walk: " + n.text
			}
			if !strings.Contains(n.text, " on invoices") || strings.Contains(n.text, "invoices_store_order_key") {
				continue // the unique (store, order id) key finds at most one invoice
			}
			depth := n.depth
			for j := i - 1; j >= 0; j-- {
				a := nodes[j]
				if a.depth >= depth {
					continue
				}
				depth = a.depth // an ancestor
				if strings.HasPrefix(a.text, "Limit") {
					break
				}
				if strings.Contains(a.text, "Sort  (") {
					return "the walk of invoices is sorted before the limit: " + a.text
				}
			}
		}
	}
	return ""
}

// seedInvoiceCopies inserts n copies of the template invoice, one a minute
// up to base+offset (ids are time-ordered, so a day's invoices are a range of
// ids), each with its own order id "o-<k>" and address; status, flags and
// price vary as in a shop: 60 % settled, 30 % expired, 10 % invalid; one
// in 200 flagged held; 5,000 prices. Every other invoice gets a copy of
// the template payment. On PostgreSQL it then analyzes the tables, as
// autovacuum would.
func seedInvoiceCopies(t testing.TB, db storage.DB, template, payment string, n int, offset time.Duration) {
	t.Helper()
	ids := make([]string, n)
	for k := range n {
		ids[k] = cryptopay.FirstIDAt(cryptopay.PrefixInvoice, base.Add(offset-time.Duration(n-k)*time.Minute))
	}
	copyRows(t, db, "invoices", template, ids, map[string]string{
		"order_id":      `'o-' || s.k`,
		"address":       `'a-' || s.id`,
		"address_index": `s.k + 1000000`,
		"status":        `CASE WHEN s.k % 10 < 6 THEN 'settled' WHEN s.k % 10 < 9 THEN 'expired' ELSE 'invalid' END`,
		"flags":         fmt.Sprintf(`CASE WHEN s.k %% 200 = 0 THEN %d ELSE 0 END`, cryptopay.FlagHeld),
		"amount":        `CAST(s.k % 5000 AS TEXT)`,
		"watch_seq":     "",
	})
	paid := make([]string, 0, n/2)
	for k := 0; k < n; k += 2 {
		paid = append(paid, ids[k])
	}
	copyRows(t, db, "payments", payment, paid, map[string]string{
		"id":         `'pay-' || s.id`,
		"invoice_id": `s.id`,
		"tx_id":      `'tx-' || s.id`,
	})
	if db.Engine() == "postgres" {
		if _, err := db.SQL().ExecContext(t.Context(), `ANALYZE invoices; ANALYZE payments`); err != nil {
			t.Fatal(err)
		}
	}
}

// copyRows inserts one copy of table's row with id template per id in
// ids, in one statement: varied maps a column to its expression over s.id
// (the copy's id) and s.k (its position), or to "" to leave the column to
// its default; other columns are copied.
func copyRows(t testing.TB, db storage.DB, table, template string, ids []string, varied map[string]string) {
	t.Helper()
	ctx := t.Context()
	h := db.SQL()
	colsQ := `SELECT name FROM pragma_table_info('` + table + `')`
	from := `(SELECT value AS id, key AS k FROM json_each(?)) s`
	if db.Engine() == "postgres" {
		colsQ = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '` + table + `'`
		from = `json_array_elements_text(CAST(? AS json)) WITH ORDINALITY AS s(id, k)`
	}
	rows, err := h.QueryContext(ctx, colsQ)
	if err != nil {
		t.Fatal(err)
	}
	var names, exprs []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		e, ok := varied[c]
		switch {
		case c == "id" && !ok:
			e = "s.id"
		case !ok:
			e = "t." + c
		case e == "":
			continue
		}
		names, exprs = append(names, c), append(exprs, e)
	}
	rows.Close()
	list, err := json.Marshal(ids)
	if err != nil {
		t.Fatal(err)
	}
	q := `INSERT INTO ` + table + ` (` + strings.Join(names, ", ") + `) SELECT ` + strings.Join(exprs, ", ") +
		` FROM ` + from + ` CROSS JOIN ` + table + ` t WHERE t.id = ?`
	if _, err := h.ExecContext(ctx, rebind(db, q), string(list), template); err != nil {
		t.Fatalf("seed %s: %v", table, err)
	}
}
