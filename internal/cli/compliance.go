package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/cryptopay/cryptopay/internal/alert"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/reports"
	"github.com/cryptopay/cryptopay/internal/shred"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

// The compliance and incident-response commands: store limits and
// retention, reviews, reports, customer erasure and export, and the
// incident buttons. The service does the work (internal/gateway); this
// file parses flags and prints.

// useCompliance opens the subject key vault (CRYPTOPAY_SUBJECT_VAULT)
// and routes the service's alerts to the app's alerter.
func (a *app) useCompliance(ctx context.Context) error {
	a.svc.SetNotifier(func(ctx context.Context, severity, title, text string) {
		if a.alerter == nil {
			a.log.Warn(title, "severity", severity, "text", text)
			return
		}
		a.alerter.Alert(ctx, alert.Alert{Severity: alert.Severity(severity), Title: title, Text: text})
	})
	if a.cfg.Compliance.SubjectVault == "" {
		return nil
	}
	kr, err := a.cfg.Keyring()
	if err != nil {
		return err
	}
	v, err := shred.Open(ctx, a.cfg.Compliance.SubjectVault, kr)
	if err != nil {
		return fmt.Errorf("CRYPTOPAY_SUBJECT_VAULT: %w", err)
	}
	a.vault = v
	a.svc.SetVault(v)
	return nil
}

// alertSinks are the sinks beside the alert webhook: email to the
// emergency contacts when an SMTP server is configured.
func (a *app) alertSinks() []alert.Sink {
	c := a.cfg.Compliance
	if c.SMTP.Addr == "" || len(c.EmergencyContacts) == 0 {
		return nil
	}
	e, err := alert.NewEmail(alert.EmailConfig{Addr: c.SMTP.Addr, Username: c.SMTP.Username, Password: c.SMTP.Password,
		From: c.SMTP.From, To: c.EmergencyContacts, TLS: c.SMTP.TLS})
	if err != nil {
		a.log.Error("email alerts disabled", "err", err)
		return nil
	}
	return []alert.Sink{e}
}

// withAlerts runs fn with an alerter reaching the operator's sinks, and
// lets its alerts out before returning: the incident commands run outside
// serve, and their alerts must still reach the emergency contacts.
func withAlerts(ctx context.Context, a *app, fn func() error) error {
	a.alerter = alert.New(alert.Config{WebhookURL: a.cfg.AlertWebhookURL, Logger: a.log, Sinks: a.alertSinks()})
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		a.alerter.Drain(dctx)
		_ = a.alerter.Close()
		a.alerter = nil
	}()
	return fn()
}

// runRetention runs the retention job at the configured interval, first
// a minute after start.
func (a *app) runRetention(ctx context.Context) {
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := a.svc.RunRetention(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("retention", "err", err)
		} else if n > 0 {
			a.log.Info("retention redacted personal fields", "invoices", n)
		}
		t.Reset(a.cfg.Compliance.RetentionInterval)
	}
}

func runCompliance(ctx context.Context, env Env, args []string) error {
	return subcommands{name: "compliance", verbs: []verb{{"show", complianceShow}, {"set", complianceSet}}}.run(ctx, env, args)
}

func complianceShow(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "compliance show")
	store := fs.String("store", "", "store id (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		c, err := a.svc.Compliance(ctx, *store)
		if err != nil {
			return err
		}
		return printJSON(env.Stdout, gateway.SettingsView(c))
	})
}

func complianceSet(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "compliance set")
	store := fs.String("store", "", "store id (required)")
	var p gateway.ComplianceParams
	fs.StringVar(&p.MaxInvoice, "max-invoice", "", "largest invoice, in the store's currency (empty: no limit)")
	fs.StringVar(&p.Daily, "daily", "", "invoices per UTC day, in the store's currency")
	fs.StringVar(&p.Monthly, "monthly", "", "invoices per UTC calendar month, in the store's currency")
	fs.StringVar(&p.CustomerDaily, "customer-daily", "", "invoices per customer_reference per UTC day")
	fs.IntVar(&p.WarnPercent, "warn-percent", gateway.DefaultWarnPercent, "warning alert when a total reaches this share of its limit")
	fs.IntVar(&p.PersonalRetentionDays, "personal-retention-days", 0, "redact customer_reference and metadata of invoices older than this (0: until erased)")
	fs.IntVar(&p.FinancialRetentionDays, "financial-retention-days", gateway.DefaultFinancialRetentionDays, "how long financial records are kept (never deleted by the gateway)")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		c, err := a.svc.SetCompliance(ctx, *store, p)
		if err != nil {
			return err
		}
		return printJSON(env.Stdout, gateway.SettingsView(c))
	})
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runReviews(ctx context.Context, env Env, args []string) error {
	return subcommands{name: "reviews", verbs: []verb{{"list", reviewsList}, {"resolve", reviewsResolve}}}.run(ctx, env, args)
}

func reviewsList(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "reviews list")
	store := fs.String("store", "", "only this store's reviews")
	status := fs.String("status", "open", "open, resolved or all")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *status == "all" {
		*status = ""
	}
	return withApp(ctx, env, true, func(a *app) error {
		rs, err := a.svc.AllReviews(ctx, nil, gateway.ReviewQuery{StoreID: *store, Status: *status})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, reports.ReviewViews(rs))
		}
		for _, r := range rs {
			fmt.Fprintf(env.Stdout, "%s  %-8s  %s  %s  %s\n", r.ID, r.Status, r.OpenedAt.Format(time.RFC3339), r.InvoiceID, r.Title)
		}
		return nil
	})
}

func reviewsResolve(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "reviews resolve")
	note := fs.String("note", "", "what staff found and did (required)")
	id, err := idAndFlags(fs, args, "want: reviews resolve <review id> --note TEXT")
	if err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		r, err := a.svc.ResolveReview(ctx, nil, id, *note)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "resolved %s by %s\n", r.ID, r.ResolvedBy)
		return nil
	})
}

func runReports(ctx context.Context, env Env, args []string) error {
	return subcommands{name: "reports", verbs: []verb{{"sar", reportsSAR}, {"transactions", reportsTransactions}}}.run(ctx, env, args)
}

// period reads --from and --to (RFC 3339 or YYYY-MM-DD, UTC).
func period(fs *flag.FlagSet) func() (time.Time, time.Time, error) {
	from := fs.String("from", "", "start, inclusive: YYYY-MM-DD or RFC 3339 (required)")
	to := fs.String("to", "", "end, exclusive: YYYY-MM-DD or RFC 3339 (required)")
	return func() (time.Time, time.Time, error) {
		f, err := parseWhen("from", *from)
		if err != nil {
			return f, f, err
		}
		t, err := parseWhen("to", *to)
		if err == nil && !f.Before(t) {
			err = usageError{"--to must be after --from"}
		}
		return f, t, err
	}
}

func parseWhen(name, v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, usageError{fmt.Sprintf("--%s: want YYYY-MM-DD or an RFC 3339 time, got %q", name, v)}
}

func reportsSAR(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "reports sar")
	when := period(fs)
	store := fs.String("store", "", "only this store")
	format := fs.String("format", "csv", "csv or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	from, to, err := when()
	if err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		rs, err := a.svc.AllReviews(ctx, nil, gateway.ReviewQuery{StoreID: *store, From: from, To: to})
		if err != nil {
			return err
		}
		return reports.WriteSAR(env.Stdout, *format, rs)
	})
}

func reportsTransactions(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "reports transactions")
	when := period(fs)
	format := fs.String("format", "csv", "csv or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	from, to, err := when()
	if err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		rows, err := a.svc.Transactions(ctx, from, to)
		if err != nil {
			return err
		}
		switch *format {
		case "json":
			return printJSON(env.Stdout, map[string]any{"transactions": rows})
		case "csv":
		default:
			return usageError{"--format: want csv or json"}
		}
		cw := csv.NewWriter(env.Stdout)
		_ = cw.Write([]string{"store_id", "livemode", "invoice_id", "order_id", "network", "address", "txid", "vout",
			"from_address", "asset", "amount", "status", "seen_at", "confirmed_at", "rate", "currency", "fiat_value", "invoice_status"})
		for _, r := range rows {
			_ = cw.Write(reports.CSVRow([]string{r.StoreID, strconv.FormatBool(r.Livemode), r.InvoiceID, r.OrderID, r.Network, r.Address,
				r.TxID, strconv.FormatUint(uint64(r.Vout), 10), r.FromAddress, r.Asset, r.Amount, r.Status,
				r.SeenAt.Format(time.RFC3339), r.ConfirmedAt, r.Rate, r.Currency, r.FiatValue, r.InvoiceStatus}))
		}
		cw.Flush()
		return cw.Error()
	})
}

func runCustomers(ctx context.Context, env Env, args []string) error {
	return subcommands{name: "customers", verbs: []verb{{"export", customersExport}, {"erase", customersErase}}}.run(ctx, env, args)
}

func customerFlags(env Env, name string) (*flag.FlagSet, *string, *string) {
	fs := flags(env, name)
	return fs, fs.String("store", "", "store id (required)"), fs.String("ref", "", "the customer_reference (required)")
}

func customersExport(ctx context.Context, env Env, args []string) error {
	fs, store, ref := customerFlags(env, "customers export")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		st, err := a.svc.GetStore(ctx, *store)
		if err != nil {
			return err
		}
		x, err := a.svc.ExportCustomer(ctx, st.ID, st.Livemode, *ref)
		if err != nil {
			return err
		}
		return printJSON(env.Stdout, reports.ExportView(x))
	})
}

func customersErase(ctx context.Context, env Env, args []string) error {
	fs, store, ref := customerFlags(env, "customers erase")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		st, err := a.svc.GetStore(ctx, *store)
		if err != nil {
			return err
		}
		e, err := a.svc.EraseCustomer(ctx, st.ID, st.Livemode, *ref)
		if err != nil {
			return err
		}
		if e.AlreadyErased {
			fmt.Fprintf(env.Stdout, "subject %s was already erased\n", e.Subject)
			return nil
		}
		fmt.Fprintf(env.Stdout, "erased subject %s: its key is destroyed; personal fields of %d invoice(s) are unreadable in the database and every backup\n", e.Subject, e.Invoices)
		return nil
	})
}

func runIncident(ctx context.Context, env Env, args []string) error {
	return subcommands{name: "incident", verbs: []verb{{"status", incidentStatus}, {"freeze", incidentFreeze},
		{"unfreeze", incidentUnfreeze}, {"revoke-keys", incidentRevoke}, {"rotate-webhook-secrets", incidentRotate}}}.run(ctx, env, args)
}

func incidentStatus(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "incident status")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		acts, err := a.svc.IncidentActions(ctx)
		if err != nil {
			return err
		}
		if len(acts) == 0 {
			fmt.Fprintln(env.Stdout, "no incident in progress")
		}
		for _, x := range acts {
			fmt.Fprintf(env.Stdout, "%s  %-22s  %s  by %s\n", x.ID, x.Action, x.CreatedAt.Format(time.RFC3339), x.Actor)
		}
		return nil
	})
}

func incidentFreeze(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "incident freeze")
	reason := fs.String("reason", "", "why, for the audit log and the emergency contacts")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		return withAlerts(ctx, a, func() error {
			x, err := a.svc.Freeze(ctx, *reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "frozen since %s (%s): no new live invoices; chain watching and webhooks continue\n", x.CreatedAt.Format(time.RFC3339), x.ID)
			return nil
		})
	})
}

func incidentUnfreeze(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "incident unfreeze")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		return withAlerts(ctx, a, func() error {
			n, err := a.svc.Unfreeze(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "incident closed: %d action(s) closed; live invoices are accepted\n", n)
			return nil
		})
	})
}

func incidentRevoke(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "incident revoke-keys")
	store := fs.String("store", "", "only this store's keys (default: every store)")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		return withAlerts(ctx, a, func() error {
			keys, err := a.svc.RevokeAllKeys(ctx, *store)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "revoked %d API key(s):\n", len(keys))
			for _, k := range keys {
				fmt.Fprintf(env.Stdout, "%s  %s  %-4s  %s\n", k.ID, k.StoreID, modeWord(k.Livemode), k.Name)
			}
			return nil
		})
	})
}

func incidentRotate(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "incident rotate-webhook-secrets")
	overlap := fs.Duration("overlap", 0, "keep signing with the old secrets for this long too (default 0: the old secrets stop at once)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *overlap < 0 || *overlap > 7*24*time.Hour {
		return usageError{"--overlap: between 0 and 168h"}
	}
	return withWebhooks(ctx, env, nil, func(a *app, wh *webhook.Service) error {
		return withAlerts(ctx, a, func() error {
			stores, err := a.svc.ListStores(ctx)
			if err != nil {
				return err
			}
			var rotated []string
			var errs []error
			fmt.Fprintln(env.Stdout, "new webhook signing secrets, shown once:")
			for _, st := range stores {
				o := webhook.Owner{StoreID: st.ID, Livemode: st.Livemode}
				after := ""
				for {
					eps, more, err := wh.ListEndpoints(ctx, o, storage.Page{Limit: 100, StartingAfter: after})
					if err != nil {
						return err
					}
					for _, ep := range eps {
						_, secret, err := wh.RotateSecretOverlap(ctx, o, ep.ID, *overlap)
						if err != nil {
							errs = append(errs, fmt.Errorf("%s: %w", ep.ID, err))
							continue
						}
						rotated = append(rotated, ep.ID)
						fmt.Fprintf(env.Stdout, "%s  %s  %s  %s\n", ep.ID, st.ID, ep.URL, secret)
					}
					if !more {
						break
					}
					after = eps[len(eps)-1].ID
				}
			}
			if err := a.svc.RecordSecretRotation(ctx, rotated, overlap.String()); err != nil {
				errs = append(errs, err)
			}
			fmt.Fprintf(env.Stdout, "rotated %d endpoint secret(s); old secrets overlap: %s\n", len(rotated), *overlap)
			return errors.Join(errs...)
		})
	})
}

func runRetentionCmd(ctx context.Context, env Env, args []string) error {
	return subcommands{name: "retention", verbs: []verb{{"run", func(ctx context.Context, env Env, args []string) error {
		fs := flags(env, "retention run")
		if err := parse(fs, args); err != nil {
			return err
		}
		return withApp(ctx, env, true, func(a *app) error {
			n, err := a.svc.RunRetention(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "redacted personal fields of %d invoice(s) past retention\n", n)
			return nil
		})
	}}}}.run(ctx, env, args)
}
