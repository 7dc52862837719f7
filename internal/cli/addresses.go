package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/monitor"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// runAddresses manages blocked sending addresses: the chain watcher blocks
// an address after repeated failed payments (internal/monitor); an
// operator lists, adds and lifts blocks here, and releases a payment held
// because its sender was blocked. Every write is audited with the operator
// as actor.
func runAddresses(ctx context.Context, env Env, args []string) error {
	change := func(verb string) func(context.Context, Env, []string) error {
		return func(ctx context.Context, env Env, args []string) error { return addressesChange(ctx, env, verb, args) }
	}
	return subcommands{name: "addresses", verbs: []verb{
		{"blocked", addressesBlocked}, {"block", change("block")}, {"unblock", change("unblock")},
		{"release", addressesRelease},
	}}.run(ctx, env, args)
}

func addressesBlocked(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "addresses blocked")
	network := fs.String("network", "", "only this network (default: every network)")
	limit := fs.Int("limit", 100, "at most this many (1-1000)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > 1000 {
		return usageError{"--limit must be from 1 to 1000"}
	}
	f := storage.BlockedAddressFilter{Page: storage.Page{Limit: *limit}}
	if *network != "" {
		n, err := cryptopay.ParseNetwork("--network", *network)
		if err != nil {
			return err
		}
		f.Networks = []cryptopay.Network{n}
	}
	return withApp(ctx, env, true, func(a *app) error {
		bs, more, err := a.db.ListBlockedAddresses(ctx, f)
		if err != nil {
			return err
		}
		if len(bs) == 0 {
			fmt.Fprintln(env.Stdout, "no blocked addresses")
		}
		for _, b := range bs {
			fmt.Fprintf(env.Stdout, "%-16s %-62s %s by %-8s failures %d: %s\n", b.Network, b.Address,
				b.BlockedAt.Format(time.RFC3339), b.BlockedBy, b.Failures, b.Reason)
		}
		if more {
			fmt.Fprintf(env.Stdout, "… more than %d; raise --limit\n", *limit)
		}
		return nil
	})
}

// addressesChange blocks or unblocks one address, with its audit entry in
// the same transaction.
func addressesChange(ctx context.Context, env Env, verb string, args []string) error {
	fs := flags(env, "addresses "+verb)
	network := fs.String("network", "", "the address's network, e.g. bitcoin (required)")
	address := fs.String("address", "", "the sending address (required)")
	reason := fs.String("reason", "blocked by an operator", "why (block only; recorded with the block)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *network == "" || *address == "" {
		return usageError{"--network and --address are required"}
	}
	n, err := cryptopay.ParseNetwork("--network", *network)
	if err != nil {
		return err
	}
	if len(*address) > 100 || len(*reason) > 500 {
		return usageError{"--address is at most 100 and --reason at most 500 characters"}
	}
	return withApp(ctx, env, true, func(a *app) error {
		if verb == "unblock" { // the service's, as the dashboard's
			if _, err := a.svc.UnblockAddress(ctx, string(n), *address); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "unblocked %s on %s; its failure count starts again from zero (payments already held stay held)\n", *address, n)
			return nil
		}
		actor := gateway.ActorFrom(ctx).Name()
		now := a.svc.Now()
		err := a.db.InTx(ctx, func(tx storage.Tx) error {
			if err := tx.BlockAddress(ctx, &storage.BlockedAddress{ID: cryptopay.NewID("blk", now), Network: n,
				Address: *address, Reason: *reason, BlockedAt: now, BlockedBy: actor}); err != nil {
				return err
			}
			return a.svc.Audit(ctx, tx, gateway.AuditRecord{Livemode: n.Livemode(), Action: monitor.AuditAddressBlocked, Target: *address,
				Details: map[string]any{"network": n, "address": *address, "reason": *reason}})
		})
		if _, ok := errors.AsType[*storage.ConflictError](err); ok {
			return fmt.Errorf("%s on %s is already blocked", *address, n)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "blocked %s on %s: its payments are held, not credited\n", *address, n)
		return nil
	})
}

// addressesRelease releases one held payment after review, through the
// same service call as the API's and the dashboard's: from then on the
// watcher tracks it like any other payment (it settles the invoice only
// once confirmed at its tier). The release, its audit entry and
// payment.released commit in one transaction; the event's deliveries are
// queued there too, for the running gateway to send.
func addressesRelease(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "addresses release")
	invoice := fs.String("invoice", "", "the invoice the payment paid (required)")
	payment := fs.String("payment", "", "the held payment's id, pay_... (required; see `cryptopay invoices show`)")
	reason := fs.String("reason", "", "why it is released (required; recorded in the audit log and the event)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *invoice == "" || *payment == "" || *reason == "" {
		return usageError{"--invoice, --payment and --reason are required"}
	}
	return withApp(ctx, env, true, func(a *app) error {
		inv, p, err := a.svc.ReleasePayment(ctx, nil, *invoice, *payment, *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "released %s on %s: payment %s, invoice %s (flags %s); event payment.released queued for the webhook endpoints. %s stays blocked.\n",
			p.ID, inv.ID, p.Status, inv.Status, inv.Flags, p.FromAddress)
		return nil
	})
}
