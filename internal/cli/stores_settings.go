package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// storesSettings shows or changes how a store presents itself on the
// checkout page. Only the flags given change anything; an empty value
// clears a setting.
func storesSettings(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "stores settings")
	supportURL := fs.String("support-url", "", "the shop's help page for payers (https; \"\" clears)")
	supportEmail := fs.String("support-email", "", "the shop's contact address for payers (\"\" clears)")
	color := fs.String("color", "", "the shop's colour on the checkout page, #rrggbb (\"\" clears)")
	explorer := fs.String("explorer-url", "", "block explorer for transaction ids, an https URL with {txid} (\"\" takes the network's default)")
	logo := fs.String("logo", "", "a PNG, JPEG or GIF file (at most 256 KiB, SVG refused) served as the store's logo")
	removeLogo := fs.Bool("remove-logo", false, "remove the store's logo")
	asJSON := fs.Bool("json", false, "print JSON")
	id, err := idAndFlags(fs, args, "want: stores settings <store id> [--support-url URL] [--support-email ADDR] [--color #rrggbb] [--explorer-url URL] [--logo FILE | --remove-logo]")
	if err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var p gateway.StoreSettingsParams
	opt := func(name string, v *string) *string {
		if given[name] {
			return v
		}
		return nil
	}
	p.SupportURL, p.SupportEmail = opt("support-url", supportURL), opt("support-email", supportEmail)
	p.BrandColor, p.ExplorerTxURL = opt("color", color), opt("explorer-url", explorer)
	p.RemoveLogo = *removeLogo
	if given["logo"] {
		if p.Logo, err = readLogo(*logo); err != nil {
			return err
		}
	}
	change := len(given) > 0 && !(len(given) == 1 && given["json"])
	return withApp(ctx, env, true, func(a *app) error {
		var st *cryptopay.StoreSettings
		if change {
			st, err = a.svc.UpdateStoreSettings(ctx, id, p)
		} else {
			st, err = a.svc.StoreSettings(ctx, id)
		}
		if err != nil {
			return err
		}
		return printStoreSettings(env, st, *asJSON)
	})
}

// readLogo reads a logo file, reading at most one byte past the limit so a
// huge file is refused without loading it whole.
func readLogo(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, cryptopay.Invalid("logo", "cannot read the logo file: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, cryptopay.MaxLogoBytes+1))
	if err != nil {
		return nil, cryptopay.Invalid("logo", "cannot read the logo file: %v", err)
	}
	if b == nil {
		b = []byte{} // an empty file is refused as empty, not taken as "no logo"
	}
	return b, nil
}

func printStoreSettings(env Env, st *cryptopay.StoreSettings, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(env.Stdout).Encode(map[string]any{
			"store_id": st.StoreID, "support_url": st.SupportURL, "support_email": st.SupportEmail,
			"brand_color": st.BrandColor, "explorer_tx_url": st.ExplorerTxURL,
			"logo_type": st.LogoType, "logo_bytes": len(st.Logo),
		})
	}
	w := env.Stdout
	or := func(s, dflt string) string {
		if s == "" {
			return dflt
		}
		return s
	}
	fmt.Fprintf(w, "store:          %s\n", st.StoreID)
	fmt.Fprintf(w, "support url:    %s\n", or(st.SupportURL, "(none)"))
	fmt.Fprintf(w, "support email:  %s\n", or(st.SupportEmail, "(none)"))
	fmt.Fprintf(w, "colour:         %s\n", or(st.BrandColor, "(default)"))
	fmt.Fprintf(w, "explorer:       %s\n", or(st.ExplorerTxURL, "(the network's default)"))
	if st.Logo != nil {
		fmt.Fprintf(w, "logo:           %s, %d bytes\n", st.LogoType, len(st.Logo))
	} else {
		fmt.Fprintf(w, "logo:           (none)\n")
	}
	return nil
}
