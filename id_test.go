package cryptopay

import (
	"testing"
	"time"
)

// TestFirstIDAt checks that FirstIDAt(t) splits ids by time: an id made at
// t or later sorts after it, one made before t sorts before. NewID never
// goes back in time within a process, so the times rise through the test.
func TestFirstIDAt(t *testing.T) {
	at := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if !ValidID(PrefixInvoice, FirstIDAt(PrefixInvoice, at)) {
		t.Fatalf("FirstIDAt = %q, not a valid id", FirstIDAt(PrefixInvoice, at))
	}
	cases := []struct {
		name     string
		made, at time.Time
		after    bool
	}{
		{"made a millisecond before", at, at.Add(time.Millisecond), false},
		{"made in the same millisecond", at.Add(time.Millisecond), at.Add(time.Millisecond), true},
		{"made a day later", at.Add(24 * time.Hour), at.Add(2 * time.Millisecond), true},
		{"made an hour before", at.Add(25 * time.Hour), at.Add(26 * time.Hour), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, first := NewID(PrefixInvoice, tc.made), FirstIDAt(PrefixInvoice, tc.at)
			if got := id > first; got != tc.after {
				t.Errorf("NewID at %v = %s sorts after FirstIDAt(%v) = %s: %v, want %v", tc.made, id, tc.at, first, got, tc.after)
			}
		})
	}
}
