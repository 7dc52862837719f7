package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/monitor"
)

// monitorVars are appended to Vars: the payment monitoring rules of
// internal/monitor.
var monitorVars = []Var{
	{"CRYPTOPAY_BLOCK_AFTER_FAILURES", "5", "Block a sending address after more than this many failed payments (double spent by a transaction mined in the best chain; never fee bumps, slow confirmations or underpayments) within CRYPTOPAY_FAILURE_WINDOW; its later payments are held, not credited. off disables."},
	{"CRYPTOPAY_FAILURE_WINDOW", "24h", "How far back failed payments count towards a block."},
	{"CRYPTOPAY_ALERT_HIGH_VALUE", "10000.00", "Alert on a payment detected, or an invoice settled, worth at least this much in the store's confirmation policy currency; off disables."},
	{"CRYPTOPAY_ALERT_ADDRESS_INVOICES", "10", "Alert when one sending address pays more than this many distinct invoices within an hour; off disables."},
	{"CRYPTOPAY_ALERT_INVOICE_PAYMENTS", "5", "Alert when one invoice receives more than this many payments; off disables."},
}

func init() { Vars = append(Vars, monitorVars...) }

// loadMonitor reads the monitoring variables into rules the chain watcher
// applies. A malformed value is an error naming its variable.
func loadMonitor(env func(string) string) (monitor.Rules, error) {
	d := monitor.Defaults()
	r := d
	var err error
	if r.FailureLimit, err = limit(env, "CRYPTOPAY_BLOCK_AFTER_FAILURES", d.FailureLimit); err != nil {
		return r, err
	}
	if v := env("CRYPTOPAY_FAILURE_WINDOW"); v != "" {
		if r.FailureWindow, err = time.ParseDuration(v); err != nil || r.FailureWindow <= 0 {
			return r, fmt.Errorf("CRYPTOPAY_FAILURE_WINDOW: want a positive duration such as 24h")
		}
	}
	r.HighValue = or(env("CRYPTOPAY_ALERT_HIGH_VALUE"), d.HighValue)
	if err := monitor.ParseHighValue("CRYPTOPAY_ALERT_HIGH_VALUE", r.HighValue); err != nil {
		return r, fmt.Errorf("%s", cryptopay.ErrorMessage(err))
	}
	if r.AddressInvoices, err = limit(env, "CRYPTOPAY_ALERT_ADDRESS_INVOICES", d.AddressInvoices); err != nil {
		return r, err
	}
	if r.InvoicePayments, err = limit(env, "CRYPTOPAY_ALERT_INVOICE_PAYMENTS", d.InvoicePayments); err != nil {
		return r, err
	}
	return r, nil
}

// limit reads a whole number from 1 to 1,000,000, or "off" (-1: the rule
// is disabled).
func limit(env func(string) string, name string, def int) (int, error) {
	v := env(name)
	switch {
	case v == "":
		return def, nil
	case strings.EqualFold(v, "off"):
		return -1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1_000_000 {
		return 0, fmt.Errorf("%s: want a whole number from 1 to 1000000, or off", name)
	}
	return n, nil
}
