package storagetest

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/metrics"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// testInvoiceCounts: the metrics scrape's invoices by network and status
// (kept by triggers, folded at scrape time on PostgreSQL) match a count of
// the invoices table after creation, settlement, expiry, a change that
// leaves the status alone and a rolled-back creation, and scraping twice
// counts nothing twice.
func testInvoiceCounts(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "counts")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewDBCollector(db.SQL(), db.Engine()))

	// scrape returns the non-zero cryptopay_invoices samples by
	// "network/status" (a status that had invoices and has none is
	// reported as 0), failing if the database was unreadable.
	scrape := func() map[string]int64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				switch mf.GetName() {
				case "cryptopay_database_up":
					if m.GetGauge().GetValue() != 1 {
						t.Fatal("cryptopay_database_up is 0")
					}
				case "cryptopay_invoices":
					labels := map[string]string{}
					for _, l := range m.GetLabel() {
						labels[l.GetName()] = l.GetValue()
					}
					if v := int64(m.GetGauge().GetValue()); v != 0 {
						out[labels["network"]+"/"+labels["status"]] = v
					}
				}
			}
		}
		return out
	}
	// counted is the oracle: the invoices table counted directly.
	counted := func() map[string]int64 {
		t.Helper()
		rows, err := db.SQL().QueryContext(ctx, `SELECT network, status, COUNT(*) FROM invoices GROUP BY network, status`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]int64{}
		for rows.Next() {
			var network, status string
			var n int64
			if err := rows.Scan(&network, &status, &n); err != nil {
				t.Fatal(err)
			}
			out[network+"/"+status] = n
		}
		return out
	}
	check := func(step string, want map[string]int64) {
		t.Helper()
		for range 2 { // a second scrape folds nothing twice
			if got := scrape(); !maps.Equal(got, want) {
				t.Fatalf("%s: scraped %v, want %v", step, got, want)
			}
		}
		if got := counted(); !maps.Equal(got, want) {
			t.Fatalf("%s: the table holds %v, want %v", step, got, want)
		}
	}
	check("no invoices", map[string]int64{})

	var invs []*cryptopay.Invoice
	for i := range 4 {
		inv := newInvoice(st, 900+i, fmt.Sprintf("count-%d", i))
		if i == 3 {
			inv.Network, inv.Asset = cryptopay.NetworkEthereum, "ETH"
		}
		invs = append(invs, inv)
	}
	inTx(t, db, func(tx storage.Tx) error {
		for _, inv := range invs {
			if err := tx.CreateInvoice(ctx, inv); err != nil {
				return err
			}
		}
		return nil
	})
	check("created", map[string]int64{"bitcoin-regtest/new": 3, "ethereum/new": 1})

	update := func(inv *cryptopay.Invoice, status cryptopay.Status, flags cryptopay.Flag) {
		t.Helper()
		inv.Status, inv.Flags = status, flags
		inTx(t, db, func(tx storage.Tx) error { return tx.UpdateInvoice(ctx, inv) })
	}
	update(invs[0], cryptopay.StatusProcessing, 0)
	update(invs[0], cryptopay.StatusSettled, 0)
	update(invs[1], cryptopay.StatusExpired, 0)
	check("settled and expired", map[string]int64{"bitcoin-regtest/new": 1, "bitcoin-regtest/settled": 1,
		"bitcoin-regtest/expired": 1, "ethereum/new": 1})

	update(invs[2], cryptopay.StatusNew, cryptopay.FlagMarked) // flags only
	check("a change that keeps the status", map[string]int64{"bitcoin-regtest/new": 1, "bitcoin-regtest/settled": 1,
		"bitcoin-regtest/expired": 1, "ethereum/new": 1})

	rolledBack := newInvoice(st, 950, "count-rolled-back")
	err := db.InTx(ctx, func(tx storage.Tx) error {
		if err := tx.CreateInvoice(ctx, rolledBack); err != nil {
			return err
		}
		update := *invs[3]
		update.Status = cryptopay.StatusSettled
		if err := tx.UpdateInvoice(ctx, &update); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("rolled-back transaction: %v", err)
	}
	check("a rolled-back creation and settlement", map[string]int64{"bitcoin-regtest/new": 1, "bitcoin-regtest/settled": 1,
		"bitcoin-regtest/expired": 1, "ethereum/new": 1})
}
