package httpapi

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadAll: the body comes back whole whatever length the client
// declared, and a declared length never sizes a buffer beyond
// maxPresized before the bytes arrive.
func TestReadAll(t *testing.T) {
	big := strings.Repeat("x", 3*maxPresized)
	for _, tc := range []struct {
		name     string
		body     string
		declared int64
		maxCap   int // the largest buffer the read may have used
	}{
		{"declared exactly", `{"a":"b"}`, 9, 10},
		{"no length", `{"a":"b"}`, -1, 512},
		{"empty", "", 0, 1},
		{"declared more than sent", `{}`, 4 << 20, 512},
		{"declared less than sent", `{"a":"b"}`, 2, 512},
		{"declared at the presize bound", big[:maxPresized], maxPresized, 2 * maxPresized},
		{"large body", big, int64(len(big)), 4 * len(big)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, half := range []bool{false, true} {
				var rd io.Reader = strings.NewReader(tc.body)
				if half {
					rd = iotest.HalfReader(rd) // short reads, as a slow client's
				}
				got, err := readAll(rd, tc.declared, 64<<20)
				if err != nil || string(got) != tc.body {
					t.Fatalf("half=%v: read %d bytes, %v; want the %d sent", half, len(got), err, len(tc.body))
				}
				if cap(got) > tc.maxCap {
					t.Errorf("half=%v: buffer of %d bytes, want at most %d", half, cap(got), tc.maxCap)
				}
			}
		})
	}
}
