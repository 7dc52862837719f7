package rates

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Store keeps each source's last good refresh so a restart does not start
// blind; DBStore adapts a storage.DB.
type Store interface {
	ReplaceRateSnapshot(ctx context.Context, source string, rs []storage.RateRecord) error
	ListRateSnapshots(ctx context.Context) ([]storage.RateRecord, error)
}

// DBStore keeps rates in the gateway's database, each refresh in its own
// transaction.
func DBStore(db storage.DB) Store { return dbStore{db} }

type dbStore struct{ db storage.DB }

func (s dbStore) ReplaceRateSnapshot(ctx context.Context, source string, rs []storage.RateRecord) error {
	return s.db.InTx(ctx, func(tx storage.Tx) error { return tx.ReplaceRateSnapshot(ctx, source, rs) })
}

func (s dbStore) ListRateSnapshots(ctx context.Context) ([]storage.RateRecord, error) {
	return s.db.ListRateSnapshots(ctx)
}

// Config configures an Aggregator. Zero values take the defaults.
type Config struct {
	Providers []Provider
	Pairs     []Pair // default DefaultPairs()
	// Interval is the mean time between refreshes (default 45s); each wait
	// is drawn uniformly from ⅔ to 4⁄3 of it, so the default is 30–60 s
	// and instances sharing a provider do not ask in step.
	Interval time.Duration
	// Timeout bounds one provider's fetch (default 10s).
	Timeout time.Duration
	// MaxDeviation: a source further than this fraction from the median
	// is left out as an outlier (default 2/100).
	MaxDeviation *big.Rat
	// Quorum is how many agreeing fresh sources a rate needs (default 2,
	// or 1 when only one provider is configured).
	Quorum int
	// MaxAge: an observation older than this is stale (default 3m).
	MaxAge time.Duration
	// DepegLimit: a stablecoin further than this fraction from 1 USD is
	// not priced (default 2/100).
	DepegLimit *big.Rat
	Store      Store
	// Alert reaches the operator (outliers, de-pegs, lost quorum).
	Alert  func(ctx context.Context, title, text string)
	Logger *slog.Logger
	Now    func() time.Time
}

// Defaults.
const (
	DefaultInterval = 45 * time.Second
	DefaultTimeout  = 10 * time.Second
	DefaultMaxAge   = 3 * time.Minute
)

// Aggregator refreshes every provider in the background and prices a
// pair at the median of its fresh, agreeing sources. Quote never touches
// the network: it reads what the last refreshes left.
type Aggregator struct {
	cfg     Config
	sources []*sourceState
	log     *slog.Logger

	mu         sync.Mutex
	alerted    map[string]bool // conditions already alerted, so each is told once
	wasHealthy map[Pair]bool   // a pair losing its quorum is alerted, one never healthy is not
}

// sourceState is one provider's last good refresh and its breaker.
type sourceState struct {
	p Provider
	// Guarded by Aggregator.mu.
	obs         map[Pair]Observation // the last good refresh, whole
	fetchedAt   time.Time            // when that refresh arrived
	restored    bool                 // obs came from the database, not this process
	lastErr     string
	lastAttempt time.Time
	failures    int       // consecutive failed refreshes
	retryAt     time.Time // breaker open until then
}

// New returns an aggregator over cfg.Providers.
func New(cfg Config) *Aggregator {
	if len(cfg.Pairs) == 0 {
		cfg.Pairs = DefaultPairs()
	}
	cfg.Interval = cmp.Or(cfg.Interval, DefaultInterval)
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.MaxAge = cmp.Or(cfg.MaxAge, DefaultMaxAge)
	if cfg.MaxDeviation == nil {
		cfg.MaxDeviation = big.NewRat(2, 100)
	}
	if cfg.DepegLimit == nil {
		cfg.DepegLimit = big.NewRat(2, 100)
	}
	if cfg.Quorum == 0 {
		cfg.Quorum = min(2, max(1, len(cfg.Providers)))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Aggregator{cfg: cfg, log: cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)), alerted: map[string]bool{}, wasHealthy: map[Pair]bool{}}
	for _, p := range cfg.Providers {
		a.sources = append(a.sources, &sourceState{p: p})
	}
	return a
}

// Quorum returns the number of agreeing sources a rate needs.
func (a *Aggregator) Quorum() int { return a.cfg.Quorum }

// Load restores each source's last good refresh from the store. Restored
// values count like fresh ones until they are older than MaxAge, so a
// gateway restarted while providers are down prices from them for a while
// instead of refusing at once.
func (a *Aggregator) Load(ctx context.Context) error {
	if a.cfg.Store == nil {
		return nil
	}
	recs, err := a.cfg.Store.ListRateSnapshots(ctx)
	if err != nil {
		return fmt.Errorf("load rates: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.sources {
		for _, r := range recs {
			if r.Source != s.p.Name() {
				continue
			}
			pair, ok := ParsePair(r.Pair)
			rate, ok2 := new(big.Rat).SetString(r.Rate)
			if !ok || !ok2 || rate.Sign() <= 0 {
				continue // written by this package; a bad row is skipped, not trusted
			}
			if s.obs == nil {
				s.obs = map[Pair]Observation{}
			}
			s.obs[pair] = Observation{Pair: pair, Rate: rate, At: r.ObservedAt}
			s.fetchedAt, s.restored = r.FetchedAt, true
		}
	}
	return nil
}

// Run refreshes until ctx ends: at once, then every Interval with jitter.
func (a *Aggregator) Run(ctx context.Context) {
	for {
		a.Refresh(ctx)
		wait := a.cfg.Interval*2/3 + rand.N(a.cfg.Interval*2/3+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Refresh asks every source whose breaker is closed, in parallel, then
// persists the good refreshes and raises alerts for what changed.
func (a *Aggregator) Refresh(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range a.sources {
		a.mu.Lock()
		skip := a.cfg.Now().Before(s.retryAt)
		a.mu.Unlock()
		if skip {
			continue // breaker open: let the provider recover
		}
		wg.Go(func() { a.refreshOne(ctx, s) })
	}
	wg.Wait()
	a.checkAlerts(ctx)
}

func (a *Aggregator) refreshOne(ctx context.Context, s *sourceState) {
	fctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	start := a.cfg.Now()
	obs, err := s.p.Fetch(fctx, a.cfg.Pairs)
	now := a.cfg.Now()
	if err == nil && len(obs) == 0 {
		err = fmt.Errorf("no prices for the pairs asked")
	}
	a.mu.Lock()
	s.lastAttempt = now
	if err != nil {
		if ctx.Err() != nil {
			a.mu.Unlock()
			return // shutting down: not the provider's failure
		}
		s.failures++
		s.lastErr = publicError(err)
		s.retryAt = now.Add(backoff(s.failures, a.cfg.Interval, err))
		a.mu.Unlock()
		a.log.Warn("rate source failed", "source", s.p.Name(), "failures", s.failures, "err", err)
		return
	}
	snap := map[Pair]Observation{}
	for _, o := range obs {
		if o.At.After(now) || o.At.IsZero() {
			o.At = start // a clock ahead of ours is no fresher than the request
		}
		snap[o.Pair] = o
	}
	crossThroughUSD(snap, a.cfg.Pairs)
	s.obs, s.fetchedAt, s.restored = snap, now, false
	s.failures, s.lastErr, s.retryAt = 0, "", time.Time{}
	a.mu.Unlock()
	if a.cfg.Store != nil {
		var recs []storage.RateRecord
		for _, o := range snap {
			recs = append(recs, storage.RateRecord{Source: s.p.Name(), Pair: o.Pair.String(), Rate: o.Rate.RatString(), ObservedAt: o.At, FetchedAt: now})
		}
		if err := a.cfg.Store.ReplaceRateSnapshot(ctx, s.p.Name(), recs); err != nil && ctx.Err() == nil {
			a.log.Warn("persist rates", "source", s.p.Name(), "err", err)
		}
	}
}

// backoff is how long a source that failed n times in a row rests: the
// first two failures are retried at the next refresh; from the third the
// breaker opens for Interval, doubling to at most 15 minutes. A 429's
// Retry-After is honoured when longer.
func backoff(n int, interval time.Duration, err error) time.Duration {
	var d time.Duration
	if n >= 3 {
		d = min(interval<<min(n-3, 10), 15*time.Minute)
	}
	if rl, ok := err.(*RateLimitedError); ok {
		d = max(d, rl.RetryAfter)
	}
	return d
}

// crossThroughUSD fills a wanted BASE_FIAT the provider lacks from its
// BASE_USD and a USD/FIAT rate (USD_FIAT or FIAT_USD) of the same refresh:
// snap is one refresh, so both legs are as fresh as each other.
func crossThroughUSD(snap map[Pair]Observation, want []Pair) {
	for _, p := range want {
		if _, ok := snap[p]; ok || p.Quote == "USD" {
			continue
		}
		leg, ok := snap[Pair{p.Base, "USD"}]
		if !ok {
			continue
		}
		var rate *big.Rat
		var at time.Time
		if fx, ok := snap[Pair{"USD", p.Quote}]; ok {
			rate, at = new(big.Rat).Mul(leg.Rate, fx.Rate), fx.At
		} else if fx, ok := snap[Pair{p.Quote, "USD"}]; ok {
			rate, at = new(big.Rat).Quo(leg.Rate, fx.Rate), fx.At
		} else {
			continue
		}
		if leg.At.Before(at) {
			at = leg.At // the older leg dates the cross
		}
		snap[p] = Observation{Pair: p, Rate: rate, At: at, Crossed: true}
	}
}

// Rate implements cryptopay.RateSource.
func (a *Aggregator) Rate(ctx context.Context, asset, fiat string) (*big.Rat, error) {
	q, err := a.Quote(ctx, asset, fiat)
	if err != nil {
		return nil, err
	}
	return q.Rate, nil
}

// Quote implements cryptopay.RateQuoter: the median of the fresh,
// agreeing sources, or a CodeRatesUnavailable error naming the pair and
// every source's state.
func (a *Aggregator) Quote(_ context.Context, asset, fiat string) (cryptopay.RateQuote, error) {
	pair := Pair{asset, fiat}
	a.mu.Lock()
	ps := a.pairStatus(pair, a.cfg.Now())
	a.mu.Unlock()
	if !ps.Healthy {
		return cryptopay.RateQuote{}, &cryptopay.Error{Code: cryptopay.CodeRatesUnavailable, Param: "currency",
			Message: fmt.Sprintf("No reliable %s/%s exchange rate right now: %s. Price the invoice in %s, or retry shortly.",
				asset, fiat, ps.Reason, asset)}
	}
	return cryptopay.RateQuote{Rate: ps.rate, Sources: ps.Sources, At: *ps.At}, nil
}

// median of rs (sorted in place); the mean of the middle two for an even
// count, exact.
func median(rs []*big.Rat) *big.Rat {
	slices.SortFunc(rs, func(x, y *big.Rat) int { return x.Cmp(y) })
	n := len(rs)
	if n%2 == 1 {
		return new(big.Rat).Set(rs[n/2])
	}
	m := new(big.Rat).Add(rs[n/2-1], rs[n/2])
	return m.Quo(m, big.NewRat(2, 1))
}

// deviation is |r-m|/m.
func deviation(r, m *big.Rat) *big.Rat {
	d := new(big.Rat).Sub(r, m)
	d.Abs(d)
	return d.Quo(d, m)
}

// percent renders a fraction as a signed percentage with two decimals.
func percent(r, m *big.Rat) string {
	d := new(big.Rat).Sub(r, m)
	d.Quo(d, m)
	d.Mul(d, big.NewRat(100, 1))
	s := d.FloatString(2)
	if d.Sign() >= 0 {
		s = "+" + s
	}
	return s + "%"
}

func isStablecoin(code string) bool { return slices.Contains(Stablecoins, code) }

// checkAlerts tells the operator, once per episode, about outliers,
// de-pegs and pairs that lost their quorum; an episode ends when the
// condition clears.
func (a *Aggregator) checkAlerts(ctx context.Context) {
	a.mu.Lock()
	now := a.cfg.Now()
	type msg struct{ title, text string }
	var out []msg
	seen := map[string]bool{}
	for _, p := range a.cfg.Pairs {
		ps := a.pairStatus(p, now)
		for _, sv := range ps.PerSource {
			if sv.State != StateOutlier {
				continue
			}
			key := "outlier:" + sv.Source + ":" + p.String()
			seen[key] = true
			if !a.alerted[key] {
				out = append(out, msg{"Exchange rate outlier left out",
					fmt.Sprintf("%s prices %s at %s, %s from the median of the other sources; it is left out until it agrees again.", sv.Source, p, sv.Rate, sv.Deviation)})
			}
		}
		if ps.depegged {
			key := "depeg:" + p.String()
			seen[key] = true
			if !a.alerted[key] {
				out = append(out, msg{"Stablecoin de-peg", fmt.Sprintf("%s is at %s USD, outside the de-peg guard; invoices are not priced in it until it returns.", p.Base, ps.rate.FloatString(6))})
			}
		}
		if !ps.Healthy && !ps.depegged && a.wasHealthy[p] {
			key := "quorum:" + p.String()
			seen[key] = true
			if !a.alerted[key] {
				out = append(out, msg{"Exchange rate unavailable", fmt.Sprintf("%s: %s. Invoices priced in %s fail with rates_unavailable until it recovers.", p, ps.Reason, p.Quote)})
			}
		}
		if ps.Healthy || !a.alerted["quorum:"+p.String()] {
			a.wasHealthy[p] = ps.Healthy
		}
	}
	a.alerted = seen
	a.mu.Unlock()
	for _, m := range out {
		if a.cfg.Alert != nil {
			a.cfg.Alert(ctx, m.title, m.text)
		} else {
			a.log.Error("ALERT: "+m.title, "detail", m.text)
		}
	}
}

// describeSources renders each source's state for an error message.
func describeSources(svs []SourceValue) string {
	parts := make([]string, 0, len(svs))
	for _, sv := range svs {
		s := sv.Source + " " + string(sv.State)
		switch sv.State {
		case StateOK, StateRestored:
			s += " " + sv.Rate
		case StateOutlier:
			s += " " + sv.Rate + " (" + sv.Deviation + " from the median)"
		case StateStale:
			s += fmt.Sprintf(" (last price %s old)", sv.Age.Round(time.Second))
		}
		if sv.Error != "" {
			s += ": " + sv.Error
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
