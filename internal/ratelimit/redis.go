package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcra is the generic cell rate algorithm over one key holding the
// bucket's "theoretical arrival time" (TAT) in microseconds. It runs
// atomically in Redis, on Redis's clock, so instances with skewed clocks
// still share one bucket. A TAT no further ahead than Burst intervals means
// a token is free; the key expires when the bucket is full again.
//
// KEYS[1] bucket; ARGV interval µs, burst, n (0 = look only).
// Returns {allowed, remaining, reset µs, retry after µs}.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local span = interval * burst
local allowed, retry = 0, 0
local cost = n
if n == 0 then cost = 1 end
local newtat = tat + cost * interval
if newtat - span <= now and cost <= burst then
	allowed = 1
	if n > 0 then
		tat = newtat
		redis.call('SET', KEYS[1], tat, 'PX', math.ceil((tat - now) / 1000) + 1)
	end
elseif cost <= burst then
	retry = newtat - span - now
else
	retry = span
end
local remaining = math.floor((now + span - tat) / interval)
if remaining < 0 then remaining = 0 end
return {allowed, remaining, tat - now, retry}
`)

// Redis is a Limiter whose buckets live in Redis, shared by every gateway
// instance using the same server and Prefix.
type Redis struct {
	Client *redis.Client
	// Prefix namespaces the keys (default "cryptopay:rl:").
	Prefix string
	// Timeout bounds one Take (default 250ms): a slow Redis must not make
	// every request slow; it counts as a failure instead.
	Timeout time.Duration
}

// Take implements Limiter. Any Redis failure, including the timeout, is
// returned as an error.
func (l *Redis) Take(ctx context.Context, bucket string, rule Rule, n int) (Decision, error) {
	if rule.Off() {
		return Decision{Allowed: true}, nil
	}
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = 250 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	prefix := l.Prefix
	if prefix == "" {
		prefix = "cryptopay:rl:"
	}
	interval := max(rule.Interval.Microseconds(), 1)
	key := prefix + strconv.FormatInt(interval, 10) + ":" + strconv.Itoa(rule.Burst) + ":" + bucket
	res, err := gcra.Run(ctx, l.Client, []string{key}, interval, rule.Burst, n).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if len(res) != 4 {
		return Decision{}, fmt.Errorf("ratelimit: redis: unexpected reply %v", res)
	}
	return Decision{
		Allowed:    res[0] == 1,
		Limit:      rule.Burst,
		Remaining:  int(min(res[1], int64(rule.Burst))),
		Reset:      time.Duration(res[2]) * time.Microsecond,
		RetryAfter: time.Duration(res[3]) * time.Microsecond,
	}, nil
}
