package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/httpapi"
)

func runInvoices(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return usageError{"want: invoices list|show|redact"}
	}
	switch args[0] {
	case "list":
		return invoicesList(ctx, env, args[1:])
	case "show":
		return invoicesShow(ctx, env, args[1:])
	case "redact":
		return invoicesRedact(ctx, env, args[1:])
	}
	return usageError{fmt.Sprintf("unknown invoices command %q; want list, show or redact", args[0])}
}

func invoicesList(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "invoices list")
	store := fs.String("store", "", "store id (required)")
	live := fs.Bool("live", false, "list live invoices (default: test)")
	status := fs.String("status", "", "only invoices in this state")
	limit := fs.Int("limit", 20, "at most this many (1-100)")
	after := fs.String("starting-after", "", "list invoices older than this invoice id")
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := open(ctx, env, true)
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := a.svc.GetStore(ctx, *store); err != nil {
		return err
	}
	invs, more, err := a.svc.ListInvoices(ctx, nil, gateway.InvoiceQuery{
		StoreID: *store, Livemode: *live, Status: *status, Limit: *limit, StartingAfter: *after,
	})
	if err != nil {
		return err
	}
	for _, inv := range invs {
		cur, _ := cryptopay.LookupCurrency(inv.Currency)
		fmt.Fprintf(env.Stdout, "%s  %-10s %12s %s  order %s  %s\n", inv.ID, inv.Status,
			cryptopay.FormatAmount(inv.Amount, cur.Decimals), inv.Currency, inv.OrderID, inv.CreatedAt.Format(time.RFC3339))
	}
	if more {
		fmt.Fprintf(env.Stdout, "… more: --starting-after %s\n", invs[len(invs)-1].ID)
	}
	return nil
}

func invoicesShow(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "invoices show")
	if len(args) == 0 {
		return usageError{"want: invoices show <invoice id>"}
	}
	id := args[0]
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	a, err := open(ctx, env, true)
	if err != nil {
		return err
	}
	defer a.Close()
	inv, err := a.svc.GetInvoice(ctx, nil, id)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(httpapi.InvoiceResource(inv))
}
