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

func runStores(ctx context.Context, env Env, args []string) error {
	return subcommands{name: "stores", verbs: []verb{
		{"create", storesCreate}, {"list", storesList}, {"show", storesShow},
		{"settings", storesSettings},
	}}.run(ctx, env, args)
}

func storesCreate(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "stores create")
	name := fs.String("name", "", "the store's name (required)")
	live := fs.Bool("live", false, "create a live store (real money); the default is a test store")
	network := fs.String("network", "", "network of the account key: bitcoin (live), bitcoin-testnet, bitcoin-signet or bitcoin-regtest (test); default bitcoin or bitcoin-regtest by mode")
	key := fs.String("account-key", "", "the account extended PUBLIC key (xpub/zpub/tpub/vpub) deposit addresses are derived from")
	currency := fs.String("currency", "USD", "default fiat currency")
	expiry := fs.Duration("invoice-expiry", cryptopay.DefaultInvoiceExpiry, "how long an invoice waits for payment")
	window := fs.Duration("monitoring-window", cryptopay.DefaultMonitoringWindow, "how long after expiry late payments are still watched")
	tolerance := fs.Int("tolerance-bp", 0, "underpayment tolerated, in basis points (100 = 1%)")
	spread := fs.Int("rate-spread-bp", 0, "spread taken off the market exchange rate of fiat invoices, in basis points (100 = 1%; at most 2000)")
	tiers := fs.String("confirmations", "100.00:3,1000.00:12,24", "confirmations by invoice value: BOUND:N,...,N (the security guide's table by default)")
	tierCurrency := fs.String("confirmations-currency", "USD", "fiat currency the confirmation tiers are priced in")
	zeroConf := fs.String("zero-conf-below", "", "let invoices worth less than this settle at the first block instead of their tier (off by default; at most the first tier). Never on an unconfirmed payment: under full-RBF any unconfirmed transaction can be replaced")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *network == "" {
		*network = string(cryptopay.NetworkBitcoinRegtest)
		if *live {
			*network = string(cryptopay.NetworkBitcoin)
		}
	}
	return withApp(ctx, env, true, func(a *app) error {
		if *live && len(a.cfg.EncryptionKeys) == 0 {
			return errNoKeyForLive
		}
		policy, err := cryptopay.ParseConfirmationPolicy("confirmations", *tierCurrency, *tiers, *zeroConf)
		if err != nil {
			return err
		}
		st, err := a.svc.CreateStore(ctx, gateway.StoreParams{
			Name: *name, Livemode: *live, DefaultCurrency: *currency,
			InvoiceExpiry: *expiry, MonitoringWindow: *window, ToleranceBasisPoints: *tolerance, Confirmations: &policy,
			RateSpreadBasisPoints: *spread,
			Wallets:               []gateway.WalletParams{{Network: *network, AccountKey: *key}},
		})
		if err != nil {
			return err
		}
		return printStore(env, st, *asJSON)
	})
}

func storesList(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "stores list")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		stores, err := a.svc.ListStores(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(env.Stdout).Encode(stores)
		}
		for _, s := range stores {
			fmt.Fprintf(env.Stdout, "%s  %-4s  %s\n", s.ID, modeWord(s.Livemode), s.Name)
		}
		return nil
	})
}

func storesShow(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "stores show")
	asJSON := fs.Bool("json", false, "print JSON")
	id, err := idAndFlags(fs, args, "want: stores show <store id>")
	if err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		st, err := a.svc.GetStore(ctx, id)
		if err != nil {
			return err
		}
		return printStore(env, st, *asJSON)
	})
}

func printStore(env Env, st *cryptopay.Store, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(env.Stdout).Encode(st)
	}
	w := env.Stdout
	fmt.Fprintf(w, "id:                %s\n", st.ID)
	fmt.Fprintf(w, "name:              %s\n", st.Name)
	fmt.Fprintf(w, "mode:              %s\n", modeWord(st.Livemode))
	fmt.Fprintf(w, "default currency:  %s\n", st.DefaultCurrency)
	fmt.Fprintf(w, "invoice expiry:    %s\n", st.InvoiceExpiry)
	fmt.Fprintf(w, "monitoring window: %s\n", st.MonitoringWindow)
	fmt.Fprintf(w, "tolerance:         %d bp\n", st.ToleranceBasisPoints)
	fmt.Fprintf(w, "rate spread:       %d bp\n", st.RateSpreadBasisPoints)
	fmt.Fprintf(w, "confirmations:     %s\n", describePolicy(st.Confirmations))
	for _, wl := range st.Wallets {
		fmt.Fprintf(w, "wallet:            %s key %s… (fingerprint %s), next index %d\n",
			wl.Network, prefix(wl.AccountKey, 12), wl.Fingerprint, wl.NextIndex)
	}
	fmt.Fprintf(w, "created:           %s\n", st.CreatedAt.Format(time.RFC3339))
	return nil
}

func modeWord(live bool) string {
	if live {
		return "live"
	}
	return "test"
}

func prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// describePolicy renders a confirmation policy the way --confirmations
// takes it.
func describePolicy(p cryptopay.ConfirmationPolicy) string {
	cur, _ := cryptopay.LookupCurrency(p.Currency)
	var parts []string
	for _, t := range p.Tiers {
		parts = append(parts, fmt.Sprintf("%s:%d", cryptopay.FormatAmount(t.Below, cur.Decimals), t.Confirmations))
	}
	parts = append(parts, fmt.Sprint(p.Above))
	s := strings.Join(parts, ",") + " " + p.Currency
	if p.ZeroConfBelow != nil {
		s += fmt.Sprintf("; invoices below %s settle at the first block", cryptopay.FormatAmount(p.ZeroConfBelow, cur.Decimals))
	}
	return s
}
