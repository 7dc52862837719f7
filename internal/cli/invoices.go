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
		{"mark-settled", invoicesMark(cryptopay.StatusSettled)}, {"mark-invalid", invoicesMark(cryptopay.StatusInvalid)},
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
		return enc.Encode(httpapi.InvoiceResource(a.svc, inv, a.publicURL()))
	})
}

// invoicesMark returns the `invoices mark-settled|mark-invalid ID --reason`
// command: the operator's manual resolution, through the same service call
// as the API's (audited with the operator as actor, event emitted, one
// transaction). The event's deliveries are queued in its transaction, by
// the app's outbox, for the running gateway to send.
func invoicesMark(to cryptopay.Status) func(ctx context.Context, env Env, args []string) error {
	return func(ctx context.Context, env Env, args []string) error {
		cmd := "invoices mark-" + string(to)
		fs := flags(env, cmd)
		reason := fs.String("reason", "", "why the state is set by hand (required; recorded in the audit log and the event)")
		id, err := idAndFlags(fs, args, "want: "+cmd+" <invoice id> --reason TEXT")
		if err != nil {
			return err
		}
		if *reason == "" {
			return usageError{"--reason is required"}
		}
		return withApp(ctx, env, true, func(a *app) error {
			inv, err := a.svc.MarkInvoice(ctx, nil, id, to, *reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "marked %s %s (flags %s); event invoice.%s queued for the webhook endpoints\n", inv.ID, inv.Status, inv.Flags, to)
			return nil
		})
	}
}
