package rates

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// fakeProvider answers what the test says. A fake is fine here: these are
// unit tests of the aggregation rules (the clients have their own tests
// against replayed responses).
type fakeProvider struct {
	name  string
	mu    sync.Mutex
	rates map[Pair]string
	age   time.Duration // how old the provider says its prices are
	err   error
	calls int
	clock *clock
}

func (f *fakeProvider) Name() string { return f.name }

func (f *fakeProvider) Fetch(_ context.Context, pairs []Pair) ([]Observation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	var out []Observation
	for p, v := range f.rates {
		r, _ := new(big.Rat).SetString(v)
		out = append(out, Observation{Pair: p, Rate: r, At: f.clock.now().Add(-f.age)})
	}
	return out, nil
}

func (f *fakeProvider) set(rates map[Pair]string, age time.Duration, err error) {
	f.mu.Lock()
	f.rates, f.age, f.err = rates, age, err
	f.mu.Unlock()
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type alerts struct {
	mu  sync.Mutex
	got []string
}

func (a *alerts) add(_ context.Context, title, text string) {
	a.mu.Lock()
	a.got = append(a.got, title+": "+text)
	a.mu.Unlock()
}

func (a *alerts) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.got
	a.got = nil
	return out
}

var btcUSD = Pair{"BTC", "USD"}

func usd(v string) map[Pair]string { return map[Pair]string{btcUSD: v} }

type harness struct {
	t       *testing.T
	clock   *clock
	agg     *Aggregator
	src     map[string]*fakeProvider
	alerted *alerts
}

func newHarness(t *testing.T, names []string, cfg Config) *harness {
	h := &harness{t: t, clock: &clock{t: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}, src: map[string]*fakeProvider{}, alerted: &alerts{}}
	for _, n := range names {
		p := &fakeProvider{name: n, clock: h.clock}
		h.src[n] = p
		cfg.Providers = append(cfg.Providers, p)
	}
	if cfg.Pairs == nil {
		cfg.Pairs = []Pair{btcUSD}
	}
	cfg.Now, cfg.Alert = h.clock.now, h.alerted.add
	cfg.Interval = 45 * time.Second
	h.agg = New(cfg)
	return h
}

// quote returns the USD rate as a decimal string, or the error's code and
// message.
func (h *harness) quote(p Pair) (string, []string, error) {
	q, err := h.agg.Quote(context.Background(), p.Base, p.Quote)
	if err != nil {
		return "", nil, err
	}
	return q.Rate.FloatString(4), q.Sources, nil
}

func (h *harness) wantRate(p Pair, rate string, sources ...string) {
	h.t.Helper()
	got, src, err := h.quote(p)
	if err != nil || got != rate || strings.Join(src, ",") != strings.Join(sources, ",") {
		h.t.Fatalf("%s = %s from %v (%v), want %s from %v", p, got, src, err, rate, sources)
	}
}

func (h *harness) wantUnavailable(p Pair, mentions ...string) {
	h.t.Helper()
	got, _, err := h.quote(p)
	if cryptopay.ErrorCode(err) != cryptopay.CodeRatesUnavailable {
		h.t.Fatalf("%s = %s, %v; want rates_unavailable", p, got, err)
	}
	msg := cryptopay.ErrorMessage(err)
	for _, m := range append([]string{p.Base + "/" + p.Quote}, mentions...) {
		if !strings.Contains(msg, m) {
			h.t.Errorf("message %q does not mention %q", msg, m)
		}
	}
}

func (h *harness) refresh() { h.agg.Refresh(context.Background()) }

func TestAggregation(t *testing.T) {
	down := errors.New("dial tcp: connection refused")
	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"median of three fresh sources", func(t *testing.T) {
			h := newHarness(t, []string{"a", "b", "c"}, Config{})
			h.src["a"].set(usd("100.00"), 0, nil)
			h.src["b"].set(usd("101.00"), 0, nil)
			h.src["c"].set(usd("101.50"), 0, nil)
			h.refresh()
			h.wantRate(btcUSD, "101.0000", "a", "b", "c")
		}},
		{"median of an even count is the mean of the middle two, exact", func(t *testing.T) {
			h := newHarness(t, []string{"a", "b"}, Config{})
			h.src["a"].set(usd("100.01"), 0, nil)
			h.src["b"].set(usd("100.02"), 0, nil)
			h.refresh()
			h.wantRate(btcUSD, "100.0150", "a", "b")
		}},
		{"one absurd outlier is left out and alerted once", func(t *testing.T) {
			h := newHarness(t, []string{"a", "b", "c", "d"}, Config{})
			h.src["a"].set(usd("100.00"), 0, nil)
			h.src["b"].set(usd("101.00"), 0, nil)
			h.src["c"].set(usd("100.50"), 0, nil)
			h.src["d"].set(usd("1000.00"), 0, nil) // a decimal point lost somewhere
			h.refresh()
			h.wantRate(btcUSD, "100.5000", "a", "b", "c")
			if got := h.alerted.take(); len(got) != 1 || !strings.Contains(got[0], "d prices BTC_USD at 1000.00000000") {
				t.Errorf("alerts %q, want one about d", got)
			}
			h.refresh()
			if got := h.alerted.take(); len(got) != 0 {
				t.Errorf("the same outlier alerted again: %q", got)
			}
			st := h.agg.PairStatus("BTC", "USD")
			if sv := st.PerSource[3]; sv.State != StateOutlier || sv.Deviation == "" {
				t.Errorf("d's state %+v, want outlier with its deviation", sv)
			}
		}},
		{"two disagreeing sources price nothing", func(t *testing.T) {
			h := newHarness(t, []string{"a", "b"}, Config{})
			h.src["a"].set(usd("100.00"), 0, nil)
			h.src["b"].set(usd("110.00"), 0, nil) // each ~4.8% from their mean: which is right is unknowable
			h.refresh()
			h.wantUnavailable(btcUSD, "a outlier", "b outlier")
		}},
		{"quorum lost and regained", func(t *testing.T) {
			h := newHarness(t, []string{"a", "b"}, Config{})
			h.src["a"].set(usd("100.00"), 0, nil)
			h.src["b"].set(usd("100.10"), 0, nil)
			h.refresh()
			h.wantRate(btcUSD, "100.0500", "a", "b")
			h.src["b"].set(nil, 0, down)
			h.clock.advance(45 * time.Second)
			h.refresh()
			// b's last price is 45 s old: it still counts, flagged failing.
			h.wantRate(btcUSD, "100.0500", "a", "b")
			if st := h.agg.PairStatus("BTC", "USD"); st.PerSource[1].State != StateFailing || st.PerSource[1].Error != "unreachable" {
				t.Errorf("b: %+v, want failing and unreachable", st.PerSource[1])
			}
			for range 4 {
				h.clock.advance(45 * time.Second)
				h.refresh()
			}
			h.wantUnavailable(btcUSD, "1 of the 2", "a ok", "b stale", "unreachable")
			if got := h.alerted.take(); len(got) != 1 || !strings.HasPrefix(got[0], "Exchange rate unavailable") {
				t.Errorf("alerts %q, want one unavailable alert", got)
			}
			h.src["b"].set(usd("100.20"), 0, nil)
			h.clock.advance(15 * time.Minute) // past any breaker rest
			h.refresh()
			h.wantRate(btcUSD, "100.1000", "a", "b")
			h.refresh()
			if got := h.alerted.take(); len(got) != 0 {
				t.Errorf("alerts after recovery: %q", got)
			}
		}},
		{"all stale", func(t *testing.T) {
			h := newHarness(t, []string{"a", "b", "c"}, Config{})
			for _, n := range []string{"a", "b", "c"} {
				h.src[n].set(usd("100.00"), 4*time.Minute, nil) // frozen markets: fetched fine, old prices
			}
			h.refresh()
			h.wantUnavailable(btcUSD, "0 of the 2", "a stale", "b stale", "c stale")
		}},
		{"a single configured source is its own quorum", func(t *testing.T) {
			h := newHarness(t, []string{"a"}, Config{})
			h.src["a"].set(usd("100.00"), 0, nil)
			h.refresh()
			h.wantRate(btcUSD, "100.0000", "a")
		}},
		{"crossing through USD within one refresh", func(t *testing.T) {
			jpy := Pair{"BTC", "JPY"}
			h := newHarness(t, []string{"a", "b"}, Config{Pairs: []Pair{btcUSD, jpy}})
			h.src["a"].set(map[Pair]string{btcUSD: "100.00", {"USD", "JPY"}: "150.00"}, 0, nil)
			h.src["b"].set(map[Pair]string{btcUSD: "100.00", jpy: "15010"}, 0, nil)
			h.refresh()
			h.wantRate(jpy, "15005.0000", "a", "b") // a: 100 × 150 = 15000, crossed; b: direct
			if st := h.agg.PairStatus("BTC", "JPY"); !st.PerSource[0].Crossed || st.PerSource[1].Crossed {
				t.Errorf("crossed flags %+v", st.PerSource)
			}
			// a's next refresh has no USD/JPY: its old one must not be
			// combined with the new BTC/USD.
			h.src["a"].set(map[Pair]string{btcUSD: "101.00"}, 0, nil)
			h.refresh()
			h.wantUnavailable(jpy, "a unlisted", "b ok")
			// JPY_USD (the inverse quote) crosses too.
			h.src["a"].set(map[Pair]string{btcUSD: "100.00", {"JPY", "USD"}: "0.00666"}, 0, nil)
			h.refresh()
			h.wantRate(jpy, "15012.5075", "a", "b") // a: 100 / 0.00666 = 15015.015015…
		}},
		{"stablecoin de-peg guard", func(t *testing.T) {
			usdt := Pair{"USDT", "USD"}
			h := newHarness(t, []string{"a", "b"}, Config{Pairs: []Pair{usdt}})
			h.src["a"].set(map[Pair]string{usdt: "1.0002"}, 0, nil)
			h.src["b"].set(map[Pair]string{usdt: "0.9998"}, 0, nil)
			h.refresh()
			h.wantRate(usdt, "1.0000", "a", "b")
			h.src["a"].set(map[Pair]string{usdt: "0.9700"}, 0, nil)
			h.src["b"].set(map[Pair]string{usdt: "0.9702"}, 0, nil)
			h.refresh()
			h.wantUnavailable(usdt, "de-peg", "0.970100")
			if got := h.alerted.take(); len(got) != 1 || !strings.HasPrefix(got[0], "Stablecoin de-peg") {
				t.Errorf("alerts %q, want one de-peg alert", got)
			}
		}},
		{"breaker rests a failing source, honours Retry-After", func(t *testing.T) {
			h := newHarness(t, []string{"a", "b"}, Config{})
			h.src["a"].set(usd("100.00"), 0, nil)
			h.src["b"].set(nil, 0, down)
			for i := range 3 {
				h.refresh()
				if c := h.src["b"].calls; c != i+1 {
					t.Fatalf("refresh %d: b asked %d times", i+1, c)
				}
			}
			h.refresh() // third failure opened the breaker for one interval
			if c := h.src["b"].calls; c != 3 {
				t.Fatalf("b asked %d times while its breaker is open", c)
			}
			h.clock.advance(46 * time.Second)
			h.refresh()
			if c := h.src["b"].calls; c != 4 {
				t.Fatalf("b asked %d times after the rest", c)
			}
			h.clock.advance(46 * time.Second) // the rest doubled to 90 s
			h.refresh()
			if c := h.src["b"].calls; c != 4 {
				t.Fatalf("b asked %d times during the doubled rest", c)
			}
			h.src["a"].set(nil, 0, &RateLimitedError{RetryAfter: 10 * time.Minute})
			h.refresh()
			h.clock.advance(5 * time.Minute)
			calls := h.src["a"].calls
			h.refresh()
			if h.src["a"].calls != calls {
				t.Fatal("a asked again before its Retry-After")
			}
		}},
		{"quoting never asks a provider", func(t *testing.T) {
			h := newHarness(t, []string{"a"}, Config{})
			h.src["a"].set(usd("100.00"), 0, nil)
			h.refresh()
			for range 10 {
				h.wantRate(btcUSD, "100.0000", "a")
			}
			if c := h.src["a"].calls; c != 1 {
				t.Errorf("a asked %d times, want only the refresh's 1", c)
			}
		}},
	} {
		t.Run(tc.name, tc.run)
	}
}

// TestRestartWithProvidersDown: the last good refresh is kept in the
// database (both engines); a gateway restarted while every provider is
// down prices from it until it is older than the staleness limit.
func TestRestartWithProvidersDown(t *testing.T) {
	for _, e := range testdb.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			db := e.Open(t)
			h := newHarness(t, []string{"a", "b"}, Config{Store: DBStore(db), Pairs: []Pair{btcUSD, {"BTC", "EUR"}}})
			h.src["a"].set(map[Pair]string{btcUSD: "67012.10", {"BTC", "EUR"}: "61850.30"}, 10*time.Second, nil)
			h.src["b"].set(map[Pair]string{btcUSD: "67005.505"}, 0, nil)
			h.refresh()
			h.wantRate(btcUSD, "67008.8025", "a", "b")

			// The restart: a new aggregator on the same database, every
			// provider down, one minute later.
			h2 := newHarness(t, []string{"a", "b"}, Config{Store: DBStore(db), Pairs: []Pair{btcUSD, {"BTC", "EUR"}}})
			h2.clock.t = h.clock.now().Add(time.Minute)
			for _, p := range h2.src {
				p.set(nil, 0, errors.New("connection refused"))
			}
			h2.wantUnavailable(btcUSD, "a pending", "b pending") // blind before loading
			if err := h2.agg.Load(context.Background()); err != nil {
				t.Fatal(err)
			}
			h2.wantRate(btcUSD, "67008.8025", "a", "b")
			if st := h2.agg.PairStatus("BTC", "USD"); st.PerSource[0].State != StateRestored {
				t.Errorf("a: %+v, want restored", st.PerSource[0])
			}
			h2.refresh()
			h2.wantRate(btcUSD, "67008.8025", "a", "b") // failing, still fresh
			h2.clock.advance(2*time.Minute + 1*time.Second)
			h2.wantUnavailable(btcUSD, "a stale", "b stale")
			h2.wantUnavailable(Pair{"BTC", "EUR"}, "a stale", "b down")
		})
	}
}

func TestBackoff(t *testing.T) {
	iv := 45 * time.Second
	for _, tc := range []struct {
		n    int
		err  error
		want time.Duration
	}{
		{1, errors.New("x"), 0},
		{2, errors.New("x"), 0},
		{3, errors.New("x"), iv},
		{4, errors.New("x"), 2 * iv},
		{5, errors.New("x"), 4 * iv},
		{30, errors.New("x"), 15 * time.Minute},
		{1, &RateLimitedError{RetryAfter: time.Minute}, time.Minute},
		{4, &RateLimitedError{RetryAfter: time.Second}, 2 * iv},
	} {
		t.Run(fmt.Sprintf("%d/%v", tc.n, tc.err), func(t *testing.T) {
			if got := backoff(tc.n, iv, tc.err); got != tc.want {
				t.Errorf("backoff = %s, want %s", got, tc.want)
			}
		})
	}
}
