package webhook

import (
	"testing"
	"time"
)

func TestScheduleDelay(t *testing.T) {
	mid := func() float64 { return 0.5 } // no jitter: factor 1
	low := func() float64 { return 0 }   // factor 1 - Jitter
	high := func() float64 { return 0.999999 }
	s := DefaultSchedule
	tests := []struct {
		name     string
		attempt  int
		rnd      func() float64
		min, max time.Duration
	}{
		{"first retry is Base", 1, mid, 30 * time.Second, 30 * time.Second},
		{"doubles", 2, mid, time.Minute, time.Minute},
		{"doubles again", 4, mid, 4 * time.Minute, 4 * time.Minute},
		{"capped at Max", 12, mid, 6 * time.Hour, 6 * time.Hour},
		{"huge attempt stays capped (no overflow)", 10_000, mid, 6 * time.Hour, 6 * time.Hour},
		{"jitter low end", 1, low, 24 * time.Second, 24 * time.Second},
		{"jitter high end stays under +20%", 1, high, 35 * time.Second, 36 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Delay(tc.attempt, tc.rnd)
			if got < tc.min || got > tc.max {
				t.Fatalf("Delay(%d) = %v, want in [%v, %v]", tc.attempt, got, tc.min, tc.max)
			}
		})
	}
}

// TestScheduleSpansThreeDays walks a delivery that never succeeds through
// the default schedule with an injected clock: it must keep retrying for
// about three days and then stop, whatever the jitter draws.
func TestScheduleSpansThreeDays(t *testing.T) {
	for _, tc := range []struct {
		name string
		rnd  func() float64
	}{
		{"shortest delays", func() float64 { return 0 }},
		{"middle", func() float64 { return 0.5 }},
		{"longest delays", func() float64 { return 0.999999 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			now := created
			attempts := 1
			for {
				at, ok := DefaultSchedule.Next(created, now, attempts, tc.rnd)
				if !ok {
					break
				}
				if !at.After(now) {
					t.Fatalf("attempt %d: next %v not after now %v", attempts, at, now)
				}
				now = at
				attempts++
				if attempts > 100 {
					t.Fatal("schedule never ends")
				}
			}
			span := now.Sub(created)
			if span < 60*time.Hour || span > 72*time.Hour {
				t.Fatalf("last attempt %v after creation, want about three days", span)
			}
			if attempts < 15 || attempts > 30 {
				t.Fatalf("%d attempts, want about 20", attempts)
			}
		})
	}
}

func TestScheduleZeroValueIsDefault(t *testing.T) {
	mid := func() float64 { return 0.5 }
	if got, want := (Schedule{}).Delay(3, mid), DefaultSchedule.Delay(3, mid); got != want {
		t.Fatalf("zero Schedule Delay = %v, want default %v", got, want)
	}
}
