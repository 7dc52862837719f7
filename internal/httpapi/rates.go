package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/rates"
)

// RateStatus reports the exchange rates invoices are priced at: the live
// aggregator or the static table.
type RateStatus interface {
	Status() rates.Status
}

type ratesBody struct {
	Object              string           `json:"object"`
	Quorum              int              `json:"quorum"`
	MaxAgeSeconds       int64            `json:"max_age_seconds"`
	MaxDeviationPercent string           `json:"max_deviation_percent"`
	Data                []ratePairBody   `json:"data"`
	Sources             []rateSourceBody `json:"sources"`
}

type ratePairBody struct {
	Pair      string            `json:"pair"`
	Base      string            `json:"base"`
	Quote     string            `json:"quote"`
	Healthy   bool              `json:"healthy"`
	Rate      *string           `json:"rate"`
	Sources   []string          `json:"sources"`
	RateAt    *time.Time        `json:"rate_at"`
	Reason    *string           `json:"reason"`
	PerSource []rateSourceValue `json:"per_source"`
}

type rateSourceValue struct {
	Source     string     `json:"source"`
	State      string     `json:"state"`
	Rate       *string    `json:"rate"`
	At         *time.Time `json:"at"`
	AgeSeconds *int64     `json:"age_seconds"`
	Crossed    bool       `json:"crossed"`
	Deviation  *string    `json:"deviation"`
	Error      *string    `json:"error"`
	RetryAt    *time.Time `json:"retry_at"`
}

type rateSourceBody struct {
	Source      string     `json:"source"`
	LastSuccess *time.Time `json:"last_success"`
	Failures    int        `json:"failures"`
	Error       *string    `json:"error"`
	RetryAt     *time.Time `json:"retry_at"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// RatesResource renders a rate status as GET /v1/rates shows it, for the
// command line too.
func RatesResource(st rates.Status) any { return ratesJSON(st) }

func ratesJSON(st rates.Status) ratesBody {
	b := ratesBody{Object: "rates", Quorum: st.Quorum, MaxAgeSeconds: int64(st.MaxAge / time.Second),
		MaxDeviationPercent: st.MaxDeviation, Data: []ratePairBody{}, Sources: []rateSourceBody{}}
	for _, p := range st.Pairs {
		base, quote, _ := strings.Cut(p.Pair, "_")
		pb := ratePairBody{Pair: p.Pair, Base: base, Quote: quote, Healthy: p.Healthy, Rate: optional(p.Rate),
			Sources: p.Sources, RateAt: p.At, Reason: optional(p.Reason), PerSource: []rateSourceValue{}}
		if pb.Sources == nil {
			pb.Sources = []string{}
		}
		for _, sv := range p.PerSource {
			v := rateSourceValue{Source: sv.Source, State: string(sv.State), Rate: optional(sv.Rate), At: optTime(sv.At),
				Crossed: sv.Crossed, Deviation: optional(sv.Deviation), Error: optional(sv.Error), RetryAt: optTime(sv.RetryAt)}
			if !sv.At.IsZero() {
				age := int64(sv.Age / time.Second)
				v.AgeSeconds = &age
			}
			pb.PerSource = append(pb.PerSource, v)
		}
		b.Data = append(b.Data, pb)
	}
	for _, s := range st.Sources {
		b.Sources = append(b.Sources, rateSourceBody{Source: s.Source, LastSuccess: optTime(s.LastSuccess), Failures: s.Failures,
			Error: optional(s.Error), RetryAt: optTime(s.RetryAt)})
	}
	return b
}

// listRates shows the current rates, each source's value, age and
// health. Rates are not secret, but they are served to API keys only, like
// everything under /v1, so they share the keys' rate limits.
func (s *Server) listRates(w http.ResponseWriter, _ *http.Request, _ *cryptopay.APIKey) error {
	if s.rates == nil {
		writeJSON(w, http.StatusOK, ratesJSON(rates.Status{}))
		return nil
	}
	writeJSON(w, http.StatusOK, ratesJSON(s.rates.Status()))
	return nil
}

// rateHealth is the /readyz detail for rates: "ok", or the pairs without
// a reliable rate. It never makes the gateway unready: invoices priced in
// the asset still work without rates.
func rateHealth(st rates.Status) string {
	var bad []string
	for _, p := range st.Pairs {
		if !p.Healthy {
			bad = append(bad, p.Pair)
		}
	}
	if len(bad) == 0 {
		return "ok"
	}
	return "no reliable rate for " + strings.Join(bad, ", ")
}
