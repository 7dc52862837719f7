package dashboard

import (
	"html/template"
	"io/fs"
	"math/big"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
)

// funcs are the helpers templates use; each formats, none decides.
var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"timep": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	// units formats base units of an asset as a decimal string.
	"units": func(v *big.Int, asset string) string {
		c, _ := cryptopay.LookupCurrency(asset)
		return cryptopay.FormatAmount(v, c.Decimals)
	},
	"flags": func(f cryptopay.Flag) string { return strings.ReplaceAll(f.String(), ",", ", ") },
	// explorer links a transaction id through the configured template.
	"explorer": func(tmpl, txid string) string {
		if tmpl == "" {
			return ""
		}
		return strings.ReplaceAll(tmpl, "{txid}", txid)
	},
	"json": func(b []byte) string { return string(b) },
	"dur":  func(d time.Duration) string { return d.String() },
	// dict passes named values to a sub-template ("field").
	"dict": func(kv ...any) map[string]any {
		m := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
}

// parsePages parses each page template together with the layout.
func parsePages() map[string]*template.Template {
	layout := template.Must(template.New("layout").Funcs(funcs).ParseFS(webFS, "web/layout.html"))
	names, err := fs.Glob(webFS, "web/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "web/"), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.Must(layout.Clone()).ParseFS(webFS, n))
	}
	return out
}
