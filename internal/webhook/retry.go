package webhook

import (
	"math/rand/v2"
	"time"
)

// Schedule is the retry schedule of a delivery: exponential backoff from
// Base, capped at Max, each delay spread by ±Jitter (a fraction) so that
// deliveries that failed together do not retry together, for Window after
// the delivery was made. The zero value is DefaultSchedule.
type Schedule struct {
	Base   time.Duration
	Max    time.Duration
	Window time.Duration
	Jitter float64 // 0 ≤ Jitter < 1
}

// DefaultSchedule retries after about 30 s, 1 min, 2 min, ... up to 6 h
// between attempts, for three days: 20 to 22 attempts in all.
var DefaultSchedule = Schedule{Base: 30 * time.Second, Max: 6 * time.Hour, Window: 72 * time.Hour, Jitter: 0.2}

func (s Schedule) orDefault() Schedule {
	if s.Base <= 0 {
		return DefaultSchedule
	}
	return s
}

// Delay returns the wait after failed attempt number attempt (1-based),
// drawing jitter from rnd, which returns values in [0, 1) (rand.Float64 in
// production, a fixed function in tests).
func (s Schedule) Delay(attempt int, rnd func() float64) time.Duration {
	s = s.orDefault()
	d := s.Base
	for i := 1; i < attempt && d < s.Max; i++ {
		d *= 2
	}
	d = min(d, s.Max)
	if s.Jitter > 0 {
		f := 1 + s.Jitter*(2*rnd()-1) // in [1-J, 1+J)
		d = time.Duration(float64(d) * f)
	}
	return d
}

// Next returns when to try again after failed attempt number attempt of a
// delivery made at created, with the clock at now; ok is false when that
// would fall after the retry window: the delivery has failed for good.
func (s Schedule) Next(created, now time.Time, attempt int, rnd func() float64) (at time.Time, ok bool) {
	s = s.orDefault()
	at = now.Add(s.Delay(attempt, rnd))
	if at.After(created.Add(s.Window)) {
		return time.Time{}, false
	}
	return at, true
}

func defaultRand() float64 { return rand.Float64() }
