package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/postgres"
	"github.com/cryptopay/cryptopay/internal/storage/sqldb"
	"github.com/cryptopay/cryptopay/internal/storage/sqlite"
)

// explain prints to w the plan of each list shape the API and the
// dashboard use, over the seeded store: EXPLAIN QUERY PLAN on SQLite,
// EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL, so the figures come with the
// proof of which index each list walks and how many rows it touched.
func (gw *gateway) explain(ctx context.Context, w io.Writer) error {
	var (
		db  *sqldb.DB
		err error
	)
	logger := slog.New(slog.DiscardHandler)
	if gw.engine == "postgres" {
		db, err = postgres.Open(ctx, gw.dbURL, logger)
	} else {
		db, err = sqlite.Open(ctx, gw.dbURL, logger)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	mid, err := middleLine(gw.ids)
	if err != nil {
		return err
	}
	seeded := time.Now().Add(-time.Hour) // where seed put the ids (to a second)
	shapes := []struct {
		name string
		f    storage.InvoiceFilter
	}{
		{"first page", storage.InvoiceFilter{}},
		{"page after a cursor half-way", storage.InvoiceFilter{Page: storage.Page{StartingAfter: mid}}},
		{"status new (every invoice) after the cursor", storage.InvoiceFilter{Status: cryptopay.StatusNew, Page: storage.Page{StartingAfter: mid}}},
		{"status settled (none)", storage.InvoiceFilter{Status: cryptopay.StatusSettled}},
		{"flag held (none)", storage.InvoiceFilter{Flag: cryptopay.FlagHeld}},
		{"price 0.0015 BTC (every invoice)", storage.InvoiceFilter{Prices: []storage.Price{{Amount: big.NewInt(150_000), Currencies: []string{"BTC"}}}}},
		{"date range", storage.InvoiceFilter{CreatedFrom: seeded.Add(-time.Hour), CreatedBefore: seeded.Add(time.Second / 2)}},
	}
	for _, sh := range shapes {
		f := sh.f
		f.StoreID, f.Page.Limit = gw.storeID, 100
		plan, err := db.ExplainListInvoices(ctx, f, true)
		if err != nil {
			return fmt.Errorf("explain %s: %w", sh.name, err)
		}
		fmt.Fprintf(w, "\n%s list, %s:\n  %s\n", gw.engine, sh.name, strings.Join(plan, "\n  "))
	}
	return nil
}

// middleLine returns the middle line of the file at path.
func middleLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) == 0 {
		return "", fmt.Errorf("%s: no ids", path)
	}
	return lines[len(lines)/2], sc.Err()
}
