package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

// The webhooks subcommands manage a store's endpoints and inspect its
// delivery log from the operator's shell. They go through the same
// webhook.Service methods the API does (validation, sealing, audit
// entries), with the operator as the audit actor. Commands that make a
// delivery (test, redeliver) only enqueue it: the running `serve` process
// sends it.

func runWebhooks(ctx context.Context, env Env, args []string) error {
	return subcommands{name: "webhooks", usageOnUnknown: true, verbs: []verb{
		{"list", webhooksList}, {"create", webhooksCreate}, {"show", webhooksShow}, {"update", webhooksUpdate},
		{"delete", webhooksDelete}, {"rotate-secret", webhooksRotate}, {"deliveries", webhooksDeliveries},
		{"delivery", webhooksDelivery}, {"redeliver", webhooksRedeliver}, {"test", webhooksTest},
	}}.run(ctx, env, args)
}

// withWebhooks opens the app and a webhook service on it without starting
// delivery workers, runs fn and closes the app. The service writes through
// the app's outbox, so what this process enqueues (test, redeliver) is
// sent by the running gateway. mod, if not nil, adjusts the service's
// configuration. Errors from opening are returned as they are.
func withWebhooks(ctx context.Context, env Env, mod func(*webhook.Config), fn func(a *app, wh *webhook.Service) error) error {
	return withApp(ctx, env, true, func(a *app) error {
		kr, err := a.cfg.Keyring()
		if err != nil {
			return err
		}
		cfg := webhook.Config{DB: a.db, Outbox: a.outbox, Keyring: kr, Auditor: a.svc, Logger: a.log, Version: Version,
			AllowLoopback: a.cfg.WebhookAllowLoopback}
		if mod != nil {
			mod(&cfg)
		}
		wh, err := webhook.New(cfg)
		if err != nil {
			return err
		}
		return fn(a, wh)
	})
}

// webhookObject is a kind of thing the operator names by id alone: an
// endpoint or a delivery. The service checks ownership, so each command
// first looks up whose the object is.
type webhookObject struct {
	prefix string // the id's prefix
	what   string // its name in messages
	// owner reads the object's owner; storage.ErrNotFound when there is none.
	owner func(ctx context.Context, db storage.DB, id string) (webhook.Owner, error)
}

var (
	endpointObject = webhookObject{cryptopay.PrefixEndpoint, "webhook endpoint",
		func(ctx context.Context, db storage.DB, id string) (webhook.Owner, error) {
			ep, err := db.GetWebhookEndpoint(ctx, id)
			if err != nil {
				return webhook.Owner{}, err
			}
			return webhook.Owner{StoreID: ep.StoreID, Livemode: ep.Livemode}, nil
		}}
	deliveryObject = webhookObject{cryptopay.PrefixDelivery, "webhook delivery",
		func(ctx context.Context, db storage.DB, id string) (webhook.Owner, error) {
			d, err := db.GetWebhookDelivery(ctx, id)
			if err != nil {
				return webhook.Owner{}, err
			}
			return webhook.Owner{StoreID: d.StoreID, Livemode: d.Livemode}, nil
		}}
)

// arg parses "<id> [flags]" into fs. A missing id (or a flag in its place)
// is a usage error "want: webhooks <cmd> <what id>"; an id of the wrong
// kind is invalid, reported before any flag error.
func (k webhookObject) arg(fs *flag.FlagSet, args []string) (string, error) {
	if len(args) > 0 && isHelp(args[0]) {
		return idAndFlags(fs, args, fmt.Sprintf("want: %s <%s id>", strings.TrimPrefix(fs.Name(), "cryptopay "), k.what))
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "", usageError{fmt.Sprintf("want: %s <%s id>", strings.TrimPrefix(fs.Name(), "cryptopay "), k.what)}
	}
	if !cryptopay.ValidID(k.prefix, args[0]) {
		return "", cryptopay.Invalid(k.what, "%q is not a %s id.", args[0], k.what)
	}
	return args[0], parse(fs, args[1:])
}

// with runs fn on the webhook service (see withWebhooks) and the owner of
// object id, which must exist: else a not-found error "No such <what>".
func (k webhookObject) with(ctx context.Context, env Env, id string, mod func(*webhook.Config),
	fn func(wh *webhook.Service, o webhook.Owner) error) error {
	return withWebhooks(ctx, env, mod, func(a *app, wh *webhook.Service) error {
		o, err := k.owner(ctx, a.db, id)
		if errors.Is(err, storage.ErrNotFound) {
			return cryptopay.Errorf(cryptopay.CodeNotFound, "No such %s: %s.", k.what, id)
		}
		if err != nil {
			return err
		}
		return fn(wh, o)
	})
}

// run is arg and with for a command whose only argument is the id:
// `webhooks <cmd> <id>`. fn gets the id too.
func (k webhookObject) run(ctx context.Context, env Env, cmd string, args []string,
	fn func(wh *webhook.Service, o webhook.Owner, id string) error) error {
	id, err := k.arg(flags(env, "webhooks "+cmd), args)
	if err != nil {
		return err
	}
	return k.with(ctx, env, id, nil, func(wh *webhook.Service, o webhook.Owner) error { return fn(wh, o, id) })
}

// storeOwner checks that the store exists and is of the mode --live says.
func storeOwner(ctx context.Context, a *app, storeID string, live bool) (webhook.Owner, error) {
	if storeID == "" {
		return webhook.Owner{}, usageError{"--store is required"}
	}
	st, err := a.svc.GetStore(ctx, storeID)
	if err != nil {
		return webhook.Owner{}, err
	}
	if st.Livemode != live {
		fix := "drop --live"
		if st.Livemode {
			fix = "add --live"
		}
		return webhook.Owner{}, cryptopay.Invalid("live", "store %s is a %s store; %s", st.ID, modeWord(st.Livemode), fix)
	}
	return webhook.Owner{StoreID: st.ID, Livemode: st.Livemode}, nil
}

func webhooksList(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "webhooks list")
	store := fs.String("store", "", "the store's id (required)")
	live := fs.Bool("live", false, "the store is a live store")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withWebhooks(ctx, env, nil, func(a *app, wh *webhook.Service) error {
		o, err := storeOwner(ctx, a, *store, *live)
		if err != nil {
			return err
		}
		page := storage.Page{Limit: 100}
		for {
			eps, more, err := wh.ListEndpoints(ctx, o, page)
			if err != nil {
				return err
			}
			for _, ep := range eps {
				state := "enabled"
				if !ep.Enabled {
					state = "disabled"
				}
				fmt.Fprintf(env.Stdout, "%s  %-4s  %-8s  %s  %s\n", ep.ID, modeWord(ep.Livemode), state, ep.URL, eventList(ep.EventTypes))
			}
			if !more || len(eps) == 0 {
				return nil
			}
			page.StartingAfter = eps[len(eps)-1].ID
		}
	})
}

func webhooksCreate(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "webhooks create")
	store := fs.String("store", "", "the store's id (required)")
	live := fs.Bool("live", false, "the store is a live store (the URL must then be public https)")
	u := fs.String("url", "", "where events are POSTed (required)")
	events := fs.String("events", "*", "comma-separated event types to send, or * for all")
	desc := fs.String("description", "", "a note for the merchant")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withWebhooks(ctx, env, nil, func(a *app, wh *webhook.Service) error {
		o, err := storeOwner(ctx, a, *store, *live)
		if err != nil {
			return err
		}
		types := splitList(*events)
		ep, secret, err := wh.CreateEndpoint(ctx, o, webhook.EndpointParams{URL: u, Description: desc, EventTypes: &types})
		if err != nil {
			return err
		}
		printEndpoint(env, ep)
		printSecret(env, secret)
		return nil
	})
}

// printSecret shows a signing secret the one time it exists in the clear.
func printSecret(env Env, secret string) {
	fmt.Fprintf(env.Stdout, "secret:       %s\n", secret)
	fmt.Fprintln(env.Stdout, "\nThe secret is shown only now: give it to the merchant's receiver, which verifies signatures with it.")
}

func webhooksShow(ctx context.Context, env Env, args []string) error {
	return endpointObject.run(ctx, env, "show", args, func(wh *webhook.Service, o webhook.Owner, id string) error {
		ep, err := wh.GetEndpoint(ctx, o, id)
		if err != nil {
			return err
		}
		printEndpoint(env, ep)
		return nil
	})
}

func webhooksUpdate(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "webhooks update")
	u := fs.String("url", "", "new URL")
	events := fs.String("events", "", "new comma-separated event types, or * for all")
	desc := fs.String("description", "", "new description")
	enabled := fs.Bool("enabled", true, "enable (true) or disable (false) the endpoint")
	id, err := endpointObject.arg(fs, args)
	if err != nil {
		return err
	}
	// Only the flags given change anything.
	var p webhook.EndpointParams
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "url":
			p.URL = u
		case "events":
			types := splitList(*events)
			p.EventTypes = &types
		case "description":
			p.Description = desc
		case "enabled":
			p.Enabled = enabled
		}
	})
	if p == (webhook.EndpointParams{}) {
		return usageError{"nothing to change: give --url, --events, --description or --enabled"}
	}
	return endpointObject.with(ctx, env, id, nil, func(wh *webhook.Service, o webhook.Owner) error {
		ep, err := wh.UpdateEndpoint(ctx, o, id, p)
		if err != nil {
			return err
		}
		printEndpoint(env, ep)
		return nil
	})
}

func webhooksDelete(ctx context.Context, env Env, args []string) error {
	return endpointObject.run(ctx, env, "delete", args, func(wh *webhook.Service, o webhook.Owner, id string) error {
		if err := wh.DeleteEndpoint(ctx, o, id); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "deleted %s and its delivery log\n", id)
		return nil
	})
}

func webhooksRotate(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "webhooks rotate-secret")
	overlap := fs.Duration("overlap", webhook.DefaultRotationOverlap, "how long the old secret keeps signing beside the new one")
	id, err := endpointObject.arg(fs, args)
	if err != nil {
		return err
	}
	if *overlap <= 0 {
		return cryptopay.Invalid("overlap", "--overlap must be positive")
	}
	mod := func(c *webhook.Config) { c.RotationOverlap = *overlap }
	return endpointObject.with(ctx, env, id, mod, func(wh *webhook.Service, o webhook.Owner) error {
		ep, secret, err := wh.RotateSecret(ctx, o, id)
		if err != nil {
			return err
		}
		printEndpoint(env, ep)
		printSecret(env, secret)
		return nil
	})
}

func webhooksDeliveries(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "webhooks deliveries")
	status := fs.String("status", "", "only deliveries with this status: pending, succeeded or failed")
	limit := fs.Int("limit", 20, "how many, newest first (at most 100)")
	id, err := endpointObject.arg(fs, args)
	if err != nil {
		return err
	}
	if *limit < 1 || *limit > 100 {
		return cryptopay.Invalid("limit", "--limit must be between 1 and 100")
	}
	return endpointObject.with(ctx, env, id, nil, func(wh *webhook.Service, o webhook.Owner) error {
		ds, more, err := wh.ListDeliveries(ctx, o, id, *status, storage.Page{Limit: *limit})
		if err != nil {
			return err
		}
		for _, d := range ds {
			next := ""
			if d.NextAttemptAt != nil {
				next = "next " + d.NextAttemptAt.Format(time.RFC3339)
			}
			fmt.Fprintf(env.Stdout, "%s  %-9s  %2d attempt(s)  %-30s  %s  %s  %s\n", d.ID, d.Status, d.Attempts,
				d.EventType, d.EventID, d.CreatedAt.Format(time.RFC3339), next)
		}
		if more {
			fmt.Fprintln(env.Stdout, "(more: raise --limit)")
		}
		return nil
	})
}

func webhooksDelivery(ctx context.Context, env Env, args []string) error {
	return deliveryObject.run(ctx, env, "delivery", args, func(wh *webhook.Service, o webhook.Owner, id string) error {
		d, err := wh.GetDelivery(ctx, o, id)
		if err != nil {
			return err
		}
		printDelivery(env, d)
		return nil
	})
}

func printDelivery(env Env, d *cryptopay.WebhookDelivery) {
	w := env.Stdout
	fmt.Fprintf(w, "id:           %s\n", d.ID)
	fmt.Fprintf(w, "endpoint:     %s\n", d.EndpointID)
	fmt.Fprintf(w, "event:        %s (%s)\n", d.EventID, d.EventType)
	fmt.Fprintf(w, "status:       %s\n", d.Status)
	fmt.Fprintf(w, "created:      %s\n", d.CreatedAt.Format(time.RFC3339))
	if d.NextAttemptAt != nil {
		fmt.Fprintf(w, "next attempt: %s\n", d.NextAttemptAt.Format(time.RFC3339))
	}
	// The body exactly as sent, on a line of its own, so an operator can
	// pipe it to a receiver's verifier.
	fmt.Fprintf(w, "body:\n%s\n", d.Body)
	fmt.Fprintf(w, "attempts:     %d\n", len(d.Attempt))
	for _, at := range d.Attempt {
		result := fmt.Sprintf("HTTP %d", at.StatusCode)
		if at.Error != "" {
			result = at.Error
			if at.StatusCode != 0 {
				result = fmt.Sprintf("HTTP %d; %s", at.StatusCode, at.Error)
			}
		}
		fmt.Fprintf(w, "  #%d  %s  %s  %s\n", at.Number, at.StartedAt.Format(time.RFC3339), at.Duration.Round(time.Millisecond), result)
		if at.ResponseBody != "" {
			fmt.Fprintf(w, "      response: %s\n", oneLine(at.ResponseBody))
		}
	}
}

func webhooksRedeliver(ctx context.Context, env Env, args []string) error {
	return deliveryObject.run(ctx, env, "redeliver", args, func(wh *webhook.Service, o webhook.Owner, id string) error {
		d, err := wh.Redeliver(ctx, o, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "queued %s: event %s again to %s; the running gateway sends it\n", d.ID, d.EventID, d.EndpointID)
		return nil
	})
}

func webhooksTest(ctx context.Context, env Env, args []string) error {
	return endpointObject.run(ctx, env, "test", args, func(wh *webhook.Service, o webhook.Owner, id string) error {
		d, err := wh.SendTest(ctx, o, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "queued %s: test event %s to %s; the running gateway sends it (see `webhooks delivery %s`)\n",
			d.ID, d.EventID, d.EndpointID, d.ID)
		return nil
	})
}

func printEndpoint(env Env, ep *cryptopay.WebhookEndpoint) {
	w := env.Stdout
	fmt.Fprintf(w, "id:           %s\n", ep.ID)
	fmt.Fprintf(w, "store:        %s\n", ep.StoreID)
	fmt.Fprintf(w, "mode:         %s\n", modeWord(ep.Livemode))
	fmt.Fprintf(w, "url:          %s\n", ep.URL)
	if ep.Description != "" {
		fmt.Fprintf(w, "description:  %s\n", ep.Description)
	}
	fmt.Fprintf(w, "events:       %s\n", eventList(ep.EventTypes))
	state := "enabled"
	if !ep.Enabled {
		state = "disabled"
		if ep.DisabledReason != "" {
			state += " (" + ep.DisabledReason + ")"
		}
	}
	fmt.Fprintf(w, "state:        %s\n", state)
	if ep.PreviousSecretExpiresAt != nil && ep.PreviousSecretExpiresAt.After(time.Now()) {
		fmt.Fprintf(w, "old secret:   also signs until %s\n", ep.PreviousSecretExpiresAt.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "created:      %s\n", ep.CreatedAt.Format(time.RFC3339))
}

func eventList(ts []cryptopay.EventType) string {
	if len(ts) == 0 {
		return "*"
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = string(t)
	}
	return strings.Join(names, ",")
}

// oneLine keeps a receiver's response on one terminal line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
