package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

func runKeys(ctx context.Context, env Env, args []string) error {
	return subcommands{name: "keys", verbs: []verb{
		{"create", keysCreate}, {"list", keysList}, {"rotate", keysRotate}, {"revoke", keysRevoke},
	}}.run(ctx, env, args)
}

func allScopes() string {
	s := make([]string, len(cryptopay.AllScopes))
	for i, sc := range cryptopay.AllScopes {
		s[i] = string(sc)
	}
	return strings.Join(s, ",")
}

func keysCreate(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "keys create")
	store := fs.String("store", "", "store id (required)")
	name := fs.String("name", "", "a name to recognise the key by")
	live := fs.Bool("live", false, "create a live key (the store must be live)")
	scopes := fs.String("scopes", "invoices:read,invoices:write,events:read", "comma-separated scopes; all: "+allScopes())
	ttl := fs.Duration("expires-in", cryptopay.DefaultKeyTTL, "lifetime of the key")
	ips := fs.String("allowed-ips", "", "comma-separated CIDRs the key may be used from (default: any)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		created, err := a.svc.CreateKey(ctx, gateway.KeyParams{
			StoreID: *store, Name: *name, Livemode: *live, Scopes: splitList(*scopes), TTL: *ttl, AllowedIPs: splitList(*ips),
		})
		if err != nil {
			return err
		}
		return printCreatedKey(env, created, *asJSON)
	})
}

func printCreatedKey(env Env, created *gateway.CreatedKey, asJSON bool) error {
	k := created.Key
	if asJSON {
		return json.NewEncoder(env.Stdout).Encode(map[string]any{
			"id": k.ID, "store_id": k.StoreID, "livemode": k.Livemode, "scopes": k.Scopes,
			"expires_at": k.ExpiresAt, "secret": created.Secret,
		})
	}
	fmt.Fprintf(env.Stdout, "id:      %s\nscopes:  %s\nexpires: %s\nsecret:  %s\n\n",
		k.ID, joinScopes(k.Scopes), k.ExpiresAt.Format(time.RFC3339), created.Secret)
	fmt.Fprintln(env.Stdout, "The secret is shown only this once. Keep it in the environment (CRYPTOPAY_API_KEY), never in code:")
	fmt.Fprintf(env.Stdout, "\nexport CRYPTOPAY_API_KEY=%s\n", created.Secret)
	return nil
}

func joinScopes(s []cryptopay.Scope) string {
	out := make([]string, len(s))
	for i, sc := range s {
		out[i] = string(sc)
	}
	return strings.Join(out, ",")
}

func keysList(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "keys list")
	store := fs.String("store", "", "store id (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		if _, err := a.svc.GetStore(ctx, *store); err != nil {
			return err
		}
		keys, err := a.svc.ListKeys(ctx, *store)
		if err != nil {
			return err
		}
		now := a.svc.Now()
		for _, k := range keys {
			state := "active"
			switch {
			case k.RevokedAt != nil && !now.Before(*k.RevokedAt):
				state = "revoked"
			case k.RevokedAt != nil:
				state = "rotating until " + k.RevokedAt.Format(time.RFC3339)
			case !now.Before(k.ExpiresAt):
				state = "expired"
			}
			fmt.Fprintf(env.Stdout, "%s  %s  …%s  %-8s %s  expires %s  %s\n", k.ID, modeWord(k.Livemode), k.Last4,
				state, joinScopes(k.Scopes), k.ExpiresAt.Format(time.DateOnly), k.Name)
		}
		return nil
	})
}

func keysRotate(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "keys rotate")
	grace := fs.Duration("grace", cryptopay.DefaultKeyGrace, "how long the old key keeps working")
	asJSON := fs.Bool("json", false, "print JSON")
	id, err := idAndFlags(fs, args, "want: keys rotate <key id> [--grace 24h]")
	if err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		created, err := a.svc.RotateKey(ctx, nil, id, *grace)
		if err != nil {
			return err
		}
		return printCreatedKey(env, created, *asJSON)
	})
}

func keysRevoke(ctx context.Context, env Env, args []string) error {
	id, err := idAndFlags(flags(env, "keys revoke"), args, "want: keys revoke <key id>")
	if err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		k, err := a.svc.RevokeKey(ctx, nil, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "revoked %s at %s\n", k.ID, k.RevokedAt.Format(time.RFC3339))
		return nil
	})
}
