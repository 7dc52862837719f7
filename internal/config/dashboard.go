package config

import (
	"fmt"
	"net/url"
	"strings"
)

// dashboardVars are appended to Vars: the merchant dashboard.
var dashboardVars = []Var{
	{"CRYPTOPAY_DASHBOARD", "on", "on serves the merchant dashboard at /dashboard/ (sign-in with accounts made by `cryptopay users create`); off serves none."},
	{"CRYPTOPAY_DASHBOARD_EXPLORER_URL", "", "Block explorer link for transactions on the dashboard, with {txid} for the id, e.g. https://mempool.space/tx/{txid}; a store's own explorer setting (`stores settings --explorer-url`) wins; unset, the network's default (none on regtest)."},
}

func init() { Vars = append(Vars, dashboardVars...) }

// Dashboard configures the merchant dashboard.
type Dashboard struct {
	Enabled     bool
	ExplorerURL string
}

func loadDashboard(env func(string) string) (Dashboard, error) {
	d := Dashboard{Enabled: true}
	switch v := or(env("CRYPTOPAY_DASHBOARD"), "on"); v {
	case "on":
	case "off":
		d.Enabled = false
	default:
		return d, fmt.Errorf("CRYPTOPAY_DASHBOARD: want on or off, got %q", v)
	}
	if v := env("CRYPTOPAY_DASHBOARD_EXPLORER_URL"); v != "" {
		u, err := url.Parse(strings.ReplaceAll(v, "{txid}", "x"))
		if err != nil || u.Scheme != "https" || u.Host == "" || !strings.Contains(v, "{txid}") {
			return d, fmt.Errorf("CRYPTOPAY_DASHBOARD_EXPLORER_URL: want an https:// URL containing {txid}, e.g. https://mempool.space/tx/{txid}")
		}
		d.ExplorerURL = v
	}
	return d, nil
}
