package sqldb

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestDecodeNotes(t *testing.T) {
	for _, tc := range []struct {
		name, payload string
		ids           []string
		ok            bool
	}{
		{"one note, as instances before batching sent", `{"id":"inv_a","network":"bitcoin","address":"bc1q","monitor_until":5}`, []string{"inv_a"}, true},
		{"an array", `[{"id":"inv_a"},{"id":"inv_b"}]`, []string{"inv_a", "inv_b"}, true},
		{"an empty array", `[]`, nil, true},
		{"truncated array", `[{"id":"inv_a"}`, nil, false},
		{"not JSON", `inv_a`, nil, false},
		{"wrong type", `[1]`, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, err := decodeNotes(tc.payload)
			if (err == nil) != tc.ok {
				t.Fatalf("decodeNotes(%q) error = %v, want ok %v", tc.payload, err, tc.ok)
			}
			var ids []string
			for _, n := range ns {
				ids = append(ids, n.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.ids) {
				t.Errorf("ids = %v, want %v", ids, tc.ids)
			}
		})
	}
}

// FuzzDecodeNotes: any payload decodes or fails without panicking, and an
// array of notes survives a round trip through JSON, the encoding
// notePayload writes.
func FuzzDecodeNotes(f *testing.F) {
	f.Add(`[{"id":"inv_a","network":"bitcoin","address":"bc1q","monitor_until":5}]`)
	f.Add(`{"id":"inv_a"}`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, p string) {
		ns, err := decodeNotes(p)
		if err != nil {
			return
		}
		b, err := json.Marshal(ns)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeNotes(string(b))
		if err != nil || len(again) != len(ns) {
			t.Fatalf("re-encoded %q decodes to %d notes, %v; want %d", b, len(again), err, len(ns))
		}
	})
}
