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
	return subcommands{name: "invoices", verbs: []verb{
		{"list", invoicesList}, {"show", invoicesShow}, {"redact", invoicesRedact},
	}}.run(ctx, env, args)
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
	return withApp(ctx, env, true, func(a *app) error {
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
	})
}

func invoicesShow(ctx context.Context, env Env, args []string) error {
	id, err := idAndFlags(flags(env, "invoices show"), args, "want: invoices show <invoice id>")
	if err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		inv, err := a.svc.GetInvoice(ctx, nil, id)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(httpapi.InvoiceResource(inv, a.publicURL()))
	})
}
