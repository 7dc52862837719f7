package rates

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestAggregatorOverReplayedProviders runs the four real clients against
// their replayed responses: the median of all four when their times are
// current; Bitstamp's and CoinGecko's own (2024) timestamps make them
// stale at today's date; an absurd price is left out; a provider failing
// in each way leaves the others pricing.
func TestAggregatorOverReplayedProviders(t *testing.T) {
	fixtureTime := time.Unix(1733230000, 0).UTC()
	build := func(t *testing.T, now time.Time) (*Aggregator, map[string]*replay) {
		reps := map[string]*replay{}
		var ps []Provider
		for _, name := range ProviderNames {
			rp, srv := newReplay(t)
			reps[name] = rp
			p, err := NewProvider(name, srv.URL, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		return New(Config{Providers: ps, Now: func() time.Time { return now }, Timeout: 300 * time.Millisecond}), reps
	}
	quote := func(t *testing.T, a *Aggregator, base, quote string) string {
		t.Helper()
		q, err := a.Quote(context.Background(), base, quote)
		if err != nil {
			t.Fatal(err)
		}
		return q.Rate.FloatString(4) + " " + strings.Join(q.Sources, ",")
	}

	t.Run("all four current", func(t *testing.T) {
		a, _ := build(t, fixtureTime.Add(30*time.Second))
		a.Refresh(context.Background())
		// BTC_USD: 67001.23, 67003.00, 67005.505, 67012.10 → (67003.00 + 67005.505) / 2
		if got := quote(t, a, "BTC", "USD"); got != "67004.2525 bitstamp,coinbase,coingecko,kraken" {
			t.Errorf("BTC_USD %s", got)
		}
		// BTC_JPY: Bitstamp does not list it; 10449210.3, 10449876, 10450000.
		if got := quote(t, a, "BTC", "JPY"); got != "10449876.0000 coinbase,coingecko,kraken" {
			t.Errorf("BTC_JPY %s", got)
		}
		// USDT_USD: 1.0001, 1.00008, 1.0003, 1.00010000 → (1.0001 + 1.0001) / 2
		if got := quote(t, a, "USDT", "USD"); got != "1.0001 bitstamp,coinbase,coingecko,kraken" {
			t.Errorf("USDT_USD %s", got)
		}
	})
	t.Run("stale provider timestamps", func(t *testing.T) {
		a, _ := build(t, time.Now())
		a.Refresh(context.Background())
		if got := quote(t, a, "BTC", "USD"); got != "67008.8025 coinbase,kraken" {
			t.Errorf("BTC_USD %s", got)
		}
		st := a.PairStatus("BTC", "USD")
		for _, sv := range st.PerSource {
			want := StateOK
			if sv.Source == Bitstamp || sv.Source == CoinGecko {
				want = StateStale
			}
			if sv.State != want {
				t.Errorf("%s: %s, want %s", sv.Source, sv.State, want)
			}
		}
	})
	t.Run("absurd outlier", func(t *testing.T) {
		a, reps := build(t, fixtureTime.Add(30*time.Second))
		reps[CoinGecko].override["coingecko_simple_price.json"] = `{"bitcoin":{"usd":670012.3,"last_updated_at":1733230000}}`
		a.Refresh(context.Background())
		if got := quote(t, a, "BTC", "USD"); got != "67005.5050 bitstamp,coinbase,kraken" {
			t.Errorf("BTC_USD %s", got)
		}
	})
	for _, mode := range []string{"timeout", "500", "html", "truncated", "429", "down"} {
		t.Run("kraken "+mode, func(t *testing.T) {
			a, reps := build(t, fixtureTime.Add(30*time.Second))
			reps[Kraken].set(mode)
			a.Refresh(context.Background())
			if got := quote(t, a, "BTC", "USD"); got != "67003.0000 bitstamp,coinbase,coingecko" {
				t.Errorf("BTC_USD %s", got)
			}
			if sv := a.PairStatus("BTC", "USD").PerSource[0]; sv.State != StateDown || sv.Error == "" {
				t.Errorf("kraken: %+v, want down with its error", sv)
			}
		})
	}
}
