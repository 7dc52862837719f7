// Package ratelimit holds token buckets keyed by name: an in-process
// limiter (golang.org/x/time/rate), a Redis limiter that several gateway
// instances share (GCRA in one atomic Lua script), and a fallback that
// keeps limiting locally when Redis is unreachable.
//
// It knows nothing of HTTP, API keys or addresses: callers choose the
// bucket names and the rules. It does not persist buckets: a restart of an
// in-process limiter refills every bucket.
package ratelimit

import (
	"context"
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rule is a token bucket: Burst tokens at most, one token back every
// Interval. A Rule with Burst 0 or Interval 0 is off.
type Rule struct {
	Burst    int
	Interval time.Duration
}

// Off reports whether the rule limits nothing.
func (r Rule) Off() bool { return r.Burst <= 0 || r.Interval <= 0 }

// Decision is the outcome of one Take.
type Decision struct {
	Allowed    bool
	Limit      int           // the rule's burst
	Remaining  int           // whole tokens left after this take
	Reset      time.Duration // until the bucket is full again
	RetryAfter time.Duration // until a refused take of the same size would succeed; 0 when allowed
}

// Limiter takes tokens from named buckets. Take with n = 0 only looks:
// Allowed reports whether one token is available, and nothing is spent.
// An error means the limiter could not decide (its backing store failed);
// the Decision is then meaningless.
type Limiter interface {
	Take(ctx context.Context, bucket string, rule Rule, n int) (Decision, error)
}

// Memory is an in-process Limiter. Buckets that have refilled completely
// are forgotten, so memory stays bounded by the clients active within one
// refill period.
type Memory struct {
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	sweepAt int // sweep when the map grows past this
}

// NewMemory returns an empty in-process limiter; now nil means time.Now.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, buckets: map[string]*rate.Limiter{}, sweepAt: 1024}
}

// Take implements Limiter; it never returns an error.
func (m *Memory) Take(_ context.Context, bucket string, rule Rule, n int) (Decision, error) {
	if rule.Off() {
		return Decision{Allowed: true}, nil
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	// The rule is part of the name: a changed rule starts a new bucket
	// instead of reinterpreting an old one.
	name := bucket + "\x00" + rule.Interval.String() + "\x00" + strconv.Itoa(rule.Burst)
	lim := m.buckets[name]
	if lim == nil && n == 0 {
		// A look at a bucket never taken from: it is full. Not stored,
		// so every client address that authenticates (the API peeks at
		// its failure bucket on each request) costs no bucket.
		return Decision{Allowed: true, Limit: rule.Burst, Remaining: rule.Burst}, nil
	}
	if lim == nil {
		lim = rate.NewLimiter(rate.Every(rule.Interval), rule.Burst)
		m.buckets[name] = lim
	}
	d := Decision{Limit: rule.Burst}
	switch {
	case n == 0:
		d.Allowed = lim.TokensAt(now) >= 1
	case n > rule.Burst:
		d.Allowed = false
	default:
		d.Allowed = lim.AllowN(now, n)
	}
	tokens := lim.TokensAt(now)
	d.Remaining = max(0, int(math.Floor(tokens)))
	d.Reset = durationFor(float64(rule.Burst)-tokens, rule.Interval)
	if !d.Allowed {
		d.RetryAfter = durationFor(float64(max(n, 1))-tokens, rule.Interval)
	}
	return d, nil
}

// sweep forgets full buckets once the map has doubled since the last
// sweep, so the cost is amortised over the inserts that caused it.
func (m *Memory) sweep(now time.Time) {
	if len(m.buckets) < m.sweepAt {
		return
	}
	for k, lim := range m.buckets {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(m.buckets, k)
		}
	}
	m.sweepAt = max(1024, 2*len(m.buckets))
}

// Len returns the number of buckets held (for tests and metrics).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}

func durationFor(tokens float64, interval time.Duration) time.Duration {
	if tokens <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(tokens * float64(interval)))
}

// Fallback uses Primary and, whenever it fails, Secondary. It fails open
// only as far as Secondary does: with a Memory secondary, a Redis outage
// turns shared limits into per-instance limits instead of no limits (which
// would invite brute force) or refusing every request (which would stop
// every shop's payments over a cache). OnError hears each primary failure;
// it is called synchronously and must be cheap.
type Fallback struct {
	Primary, Secondary Limiter
	OnError            func(error)
}

// Take implements Limiter.
func (f *Fallback) Take(ctx context.Context, bucket string, rule Rule, n int) (Decision, error) {
	d, err := f.Primary.Take(ctx, bucket, rule, n)
	if err == nil {
		return d, nil
	}
	if f.OnError != nil {
		f.OnError(err)
	}
	return f.Secondary.Take(ctx, bucket, rule, n)
}
