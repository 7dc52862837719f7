package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/config"
	"github.com/cryptopay/cryptopay/internal/httpapi"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// rateSource builds what fiat invoices are priced from: the static table
// when CRYPTOPAY_RATES is set (it wins: offline use, the sandbox), else
// the live aggregator over CRYPTOPAY_RATES_SOURCES, else nothing (an empty
// table: fiat invoices are refused). live is nil unless the aggregator is
// used; it fetches nothing until refreshed or run.
func rateSource(cfg *config.Config, db storage.DB, log *slog.Logger, alert func(context.Context, string, string)) (cryptopay.RateSource, *rates.Aggregator, error) {
	static, err := rates.ParseStatic(cfg.Rates)
	if err != nil {
		return nil, nil, fmt.Errorf("CRYPTOPAY_RATES: %w", err)
	}
	lr := cfg.LiveRates
	if cfg.Rates != "" || len(lr.Sources) == 0 {
		return static, nil, nil
	}
	client := &http.Client{Timeout: lr.Timeout}
	var providers []rates.Provider
	for _, name := range lr.Sources {
		p, err := rates.NewProvider(name, lr.URLs[name], client)
		if err != nil {
			return nil, nil, fmt.Errorf("CRYPTOPAY_RATES_SOURCES: %w", err)
		}
		providers = append(providers, p)
	}
	agg := rates.New(rates.Config{Providers: providers, Interval: lr.Interval, Timeout: lr.Timeout, MaxAge: lr.MaxAge,
		MaxDeviation: lr.MaxDeviation, Quorum: lr.Quorum, DepegLimit: lr.DepegLimit, Store: rates.DBStore(db),
		Alert: alert, Logger: log.With("component", "rates")})
	return agg, agg, nil
}

// rateStatus is what the API, /readyz and doctor show of the rates.
func (a *app) rateStatus() httpapi.RateStatus {
	if a.live != nil {
		return a.live
	}
	if st, ok := a.rates.(rates.Static); ok && len(st) > 0 {
		return st
	}
	return nil
}

// loadRates restores the live rates kept in the database (the schema must
// be current).
func (a *app) loadRates(ctx context.Context) {
	if a.live == nil {
		return
	}
	if err := a.live.Load(ctx); err != nil {
		a.log.Warn("rates: could not load the last good rates", "err", err)
	}
}

// currentRates refreshes live providers once and returns the rates as
// they stand, for doctor; false when no rates are configured.
func (a *app) currentRates(ctx context.Context) (rates.Status, bool) {
	if a.live != nil {
		a.loadRates(ctx)
		a.live.Refresh(ctx)
	}
	rs := a.rateStatus()
	if rs == nil {
		return rates.Status{}, false
	}
	return rs.Status(), true
}

func runRates(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "rates")
	cached := fs.Bool("cached", false, "show the last good rates kept in the database without asking the providers")
	asJSON := fs.Bool("json", false, "print the rates as GET /v1/rates shows them")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		a.loadRates(ctx)
		if a.live != nil && !*cached {
			a.live.Refresh(ctx)
		}
		rs := a.rateStatus()
		if rs == nil {
			fmt.Fprintln(env.Stdout, "no exchange rates configured: CRYPTOPAY_RATES is empty and CRYPTOPAY_RATES_SOURCES is off")
			return nil
		}
		st := rs.Status()
		if *asJSON {
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(httpapi.RatesResource(st))
		}
		writeRates(env, st)
		return nil
	})
}

func writeRates(env Env, st rates.Status) {
	if st.MaxAge > 0 {
		fmt.Fprintf(env.Stdout, "quorum %d, stale after %s, outlier beyond %s%%\n\n", st.Quorum, st.MaxAge, st.MaxDeviation)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PAIR\tRATE\tSOURCES\tSTATE")
	for _, p := range st.Pairs {
		state := "ok"
		if !p.Healthy {
			state = "UNAVAILABLE"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Pair, cmpOr(p.Rate, "-"), cmpOr(strings.Join(p.Sources, ","), "-"), state)
		for _, sv := range p.PerSource {
			detail := string(sv.State)
			if !sv.At.IsZero() {
				detail += fmt.Sprintf(", %s old", sv.Age.Round(time.Second))
			}
			if sv.Deviation != "" {
				detail += ", " + sv.Deviation + " from the median"
			}
			if sv.Error != "" {
				detail += ", last refresh: " + sv.Error
			}
			fmt.Fprintf(tw, "  %s\t%s\t\t%s\n", sv.Source, cmpOr(sv.Rate, "-"), detail)
		}
	}
	tw.Flush()
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
