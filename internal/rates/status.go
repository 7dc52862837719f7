package rates

import (
	"fmt"
	"math/big"
	"slices"
	"time"
)

// SourceState is what one source contributes to one pair.
type SourceState string

// Source states. Only ok, restored and failing values are counted.
const (
	StateOK       SourceState = "ok"       // fresh from the last refresh
	StateRestored SourceState = "restored" // from the database after a restart, still fresh
	StateFailing  SourceState = "failing"  // the last refresh failed; its previous price is still fresh and counts
	StateOutlier  SourceState = "outlier"  // fresh, but too far from the median; left out
	StateStale    SourceState = "stale"    // its latest price is older than the staleness limit
	StateDown     SourceState = "down"     // no price at all: every refresh so far failed
	StateUnlisted SourceState = "unlisted" // the provider answers but does not price this pair
	StatePending  SourceState = "pending"  // not asked yet
)

func (s SourceState) counted() bool { return s == StateOK || s == StateRestored || s == StateFailing }

// SourceValue is one source's view of one pair.
type SourceValue struct {
	Source    string
	State     SourceState
	Rate      string        // "" when it has none
	At        time.Time     // the price's time; zero when none
	Age       time.Duration // now - At
	Crossed   bool          // derived through USD within one refresh
	Deviation string        // from the median, e.g. "+3.10%", for outliers
	Error     string        // the last refresh's error, if it failed
	RetryAt   time.Time     // the breaker's next attempt, zero when closed
	rate      *big.Rat
}

// PairStatus is the aggregate for one pair.
type PairStatus struct {
	Pair      string
	Healthy   bool
	Rate      string     // the median of the counted sources, when healthy
	Sources   []string   // the sources in that median, sorted
	At        *time.Time // the oldest price in it
	Reason    string     // why not healthy
	PerSource []SourceValue
	rate      *big.Rat
	depegged  bool
}

// SourceHealth is one provider's fetch state.
type SourceHealth struct {
	Source      string
	LastSuccess time.Time // zero when never (in this process or restored)
	LastAttempt time.Time
	Failures    int
	Error       string
	RetryAt     time.Time // breaker open until then
	Restored    bool
}

// Status is everything GET /v1/rates, the CLI, /readyz and doctor show.
type Status struct {
	At           time.Time
	Quorum       int
	MaxAge       time.Duration
	MaxDeviation string // percent
	Pairs        []PairStatus
	Sources      []SourceHealth
}

// Status returns the current aggregate of every pair and every source.
func (a *Aggregator) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.Now()
	st := Status{At: now, Quorum: a.cfg.Quorum, MaxAge: a.cfg.MaxAge,
		MaxDeviation: new(big.Rat).Mul(a.cfg.MaxDeviation, big.NewRat(100, 1)).FloatString(2)}
	for _, p := range a.cfg.Pairs {
		st.Pairs = append(st.Pairs, a.pairStatus(p, now))
	}
	for _, s := range a.sources {
		st.Sources = append(st.Sources, SourceHealth{Source: s.p.Name(), LastSuccess: s.fetchedAt, LastAttempt: s.lastAttempt,
			Failures: s.failures, Error: s.lastErr, RetryAt: s.retryAt, Restored: s.restored})
	}
	return st
}

// PairStatus returns one pair's aggregate.
func (a *Aggregator) PairStatus(base, quote string) PairStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pairStatus(Pair{base, quote}, a.cfg.Now())
}

// pairStatus computes p's aggregate at now. Callers hold a.mu.
//
// The rule: take every source whose latest price for p is younger than
// MaxAge (a failed refresh does not erase a fresh price: it counts until it
// ages out); take their median; leave out any more than MaxDeviation from
// it; the rate is the median of the rest if at least Quorum remain.
func (a *Aggregator) pairStatus(p Pair, now time.Time) PairStatus {
	ps := PairStatus{Pair: p.String()}
	var fresh []*big.Rat
	for _, s := range a.sources {
		sv := SourceValue{Source: s.p.Name(), Error: s.lastErr}
		if now.Before(s.retryAt) {
			sv.RetryAt = s.retryAt
		}
		o, ok := s.obs[p]
		switch {
		case ok:
			sv.rate, sv.Rate, sv.At, sv.Age, sv.Crossed = o.Rate, formatRate(o.Rate, p.Quote), o.At, now.Sub(o.At), o.Crossed
			switch {
			case sv.Age > a.cfg.MaxAge:
				sv.State = StateStale
			case s.lastErr != "":
				sv.State = StateFailing
			case s.restored:
				sv.State = StateRestored
			default:
				sv.State = StateOK
			}
		case s.lastErr != "":
			sv.State = StateDown
		case s.fetchedAt.IsZero():
			sv.State = StatePending
		default:
			sv.State = StateUnlisted
		}
		if sv.State.counted() {
			fresh = append(fresh, o.Rate)
		}
		ps.PerSource = append(ps.PerSource, sv)
	}
	if len(fresh) > 0 {
		m := median(slices.Clone(fresh))
		var kept []*big.Rat
		for i := range ps.PerSource {
			sv := &ps.PerSource[i]
			if !sv.State.counted() {
				continue
			}
			if deviation(sv.rate, m).Cmp(a.cfg.MaxDeviation) > 0 {
				sv.State, sv.Deviation = StateOutlier, percent(sv.rate, m)
				continue
			}
			kept = append(kept, sv.rate)
			ps.Sources = append(ps.Sources, sv.Source)
			if ps.At == nil || sv.At.Before(*ps.At) {
				at := sv.At
				ps.At = &at
			}
		}
		if len(kept) > 0 {
			ps.rate = median(kept)
		}
		slices.Sort(ps.Sources)
	}
	switch {
	case len(ps.Sources) < a.cfg.Quorum:
		ps.Reason = fmt.Sprintf("%d of the %d agreeing fresh sources required (%s)", len(ps.Sources), a.cfg.Quorum, describeSources(ps.PerSource))
	case isStablecoin(p.Base) && deviation(ps.rate, big.NewRat(1, 1)).Cmp(a.cfg.DepegLimit) > 0:
		ps.depegged = true
		ps.Reason = fmt.Sprintf("%s is at %s USD, outside the de-peg guard of ±%s%% (%s)", p.Base, ps.rate.FloatString(6),
			new(big.Rat).Mul(a.cfg.DepegLimit, big.NewRat(100, 1)).FloatString(2), describeSources(ps.PerSource))
	default:
		ps.Healthy, ps.Rate = true, formatRate(ps.rate, p.Quote)
	}
	if !ps.Healthy {
		ps.Sources, ps.At = nil, nil
	}
	return ps
}
