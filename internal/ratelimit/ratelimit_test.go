package ratelimit

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// limiters returns the in-process limiter (on a hand-driven clock, advanced
// by wait) and, when CRYPTOPAY_TEST_REDIS_URL is set, the Redis limiter
// (on Redis's clock; wait polls).
func limiters(t *testing.T) map[string]Limiter {
	out := map[string]Limiter{}
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	out["memory"] = NewMemory(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	if u := os.Getenv("CRYPTOPAY_TEST_REDIS_URL"); u != "" {
		opts, err := redis.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opts)
		t.Cleanup(func() { c.Close() })
		out["redis"] = &Redis{Client: c, Prefix: "cryptopay-test:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"}
	}
	return out
}

func TestBucketHoldsAndRecovers(t *testing.T) {
	ctx := context.Background()
	rule := Rule{Burst: 3, Interval: 200 * time.Millisecond}
	for name, l := range limiters(t) {
		t.Run(name, func(t *testing.T) {
			for i := range 3 {
				d, err := l.Take(ctx, "b", rule, 1)
				if err != nil || !d.Allowed || d.Remaining != 2-i || d.Limit != 3 {
					t.Fatalf("take %d: %+v %v", i, d, err)
				}
			}
			d, err := l.Take(ctx, "b", rule, 1)
			if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > rule.Interval || d.Remaining != 0 {
				t.Fatalf("over the burst: %+v %v", d, err)
			}
			if d.Reset <= 2*rule.Interval || d.Reset > 3*rule.Interval {
				t.Errorf("reset %v, want about 3 intervals", d.Reset)
			}
			if p, _ := l.Take(ctx, "b", rule, 0); p.Allowed {
				t.Error("a look says a token is free in an empty bucket")
			}
			if d, _ := l.Take(ctx, "other", rule, 1); !d.Allowed {
				t.Error("another bucket is affected")
			}
			if d, _ := l.Take(ctx, "b", rule, 4); d.Allowed {
				t.Error("a take larger than the burst succeeded")
			}
			// Recovery: one token comes back after one interval.
			advance(t, l, rule.Interval)
			deadline := time.Now().Add(5 * time.Second)
			for {
				d, err := l.Take(ctx, "b", rule, 1)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the bucket never recovered: %+v", d)
				}
				time.Sleep(d.RetryAfter)
			}
		})
	}
}

// advance moves the memory limiter's clock; Redis runs on its own.
func advance(t *testing.T, l Limiter, d time.Duration) {
	if m, ok := l.(*Memory); ok {
		base := m.now()
		m.now = func() time.Time { return base.Add(d) }
	}
}

func TestRedisSharedBetweenInstances(t *testing.T) {
	u := os.Getenv("CRYPTOPAY_TEST_REDIS_URL")
	if u == "" {
		t.Skip("CRYPTOPAY_TEST_REDIS_URL not set")
	}
	opts, _ := redis.ParseURL(u)
	prefix := "cryptopay-test-shared:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	a, b := redis.NewClient(opts), redis.NewClient(opts)
	defer a.Close()
	defer b.Close()
	la, lb := &Redis{Client: a, Prefix: prefix}, &Redis{Client: b, Prefix: prefix}
	rule := Rule{Burst: 10, Interval: time.Minute}
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for i := range 40 {
		l := la
		if i%2 == 1 {
			l = lb
		}
		wg.Go(func() {
			d, err := l.Take(context.Background(), "shared", rule, 1)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 10 {
		t.Errorf("two instances allowed %d of 40 concurrent requests, want exactly the burst of 10", allowed)
	}
}

func TestFallbackWhenRedisDown(t *testing.T) {
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer dead.Close()
	var errs []error
	f := &Fallback{Primary: &Redis{Client: dead}, Secondary: NewMemory(nil), OnError: func(err error) { errs = append(errs, err) }}
	rule := Rule{Burst: 2, Interval: time.Hour}
	var got []bool
	for range 3 {
		d, err := f.Take(context.Background(), "k", rule, 1)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.Allowed)
	}
	if !got[0] || !got[1] || got[2] {
		t.Errorf("with Redis down the local bucket should still hold: %v", got)
	}
	if len(errs) != 3 || !errors.Is(errs[0], errs[0]) {
		t.Errorf("OnError heard %d failures, want 3", len(errs))
	}
}

func TestMemoryForgetsFullBuckets(t *testing.T) {
	var now time.Time
	m := NewMemory(func() time.Time { return now })
	rule := Rule{Burst: 1, Interval: time.Second}
	for i := range 3000 {
		_, _ = m.Take(context.Background(), strconv.Itoa(i), rule, 1)
		now = now.Add(10 * time.Millisecond)
	}
	if n := m.Len(); n > 2100 {
		t.Errorf("%d buckets held after 3000 one-off clients over 30s, want idle ones forgotten", n)
	}
}

// TestPeekHoldsNoBucket: a look (n = 0) at a bucket nothing was taken
// from reports it full, exactly as the bucket would, and stores nothing;
// once a token is taken, looks see what is left.
func TestPeekHoldsNoBucket(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	m := NewMemory(func() time.Time { return now })
	rule := Rule{Burst: 10, Interval: time.Minute}
	full := Decision{Allowed: true, Limit: 10, Remaining: 10}
	for i := range 100 {
		if d, err := m.Take(ctx, "authfail:192.0.2."+strconv.Itoa(i), rule, 0); err != nil || d != full {
			t.Fatalf("look at a fresh bucket: %+v, %v; want %+v", d, err, full)
		}
	}
	if n := m.Len(); n != 0 {
		t.Fatalf("%d buckets held after looks only, want 0", n)
	}
	if d, _ := m.Take(ctx, "authfail:192.0.2.1", rule, 1); !d.Allowed || d.Remaining != 9 {
		t.Fatalf("take: %+v", d)
	}
	if d, _ := m.Take(ctx, "authfail:192.0.2.1", rule, 0); !d.Allowed || d.Remaining != 9 || d.Reset != time.Minute {
		t.Fatalf("look after a take: %+v, want 9 left, full again in a minute (one token a minute)", d)
	}
	for range 9 {
		_, _ = m.Take(ctx, "authfail:192.0.2.1", rule, 1)
	}
	if d, _ := m.Take(ctx, "authfail:192.0.2.1", rule, 0); d.Allowed || d.Remaining != 0 || d.RetryAfter != time.Minute {
		t.Fatalf("look at a spent bucket: %+v, want refused, retry in a minute", d)
	}
	if n := m.Len(); n != 1 {
		t.Fatalf("%d buckets held, want the one taken from", n)
	}
}
