package tracker

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/chain"
)

// spreadKey makes distinct, well-spread keys as real hash160s would be.
func spreadKey(i uint64) chain.Key {
	var k chain.Key
	x := i*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
	binary.LittleEndian.PutUint64(k[0:], x)
	binary.LittleEndian.PutUint64(k[8:], x^(x>>29)*0xbf58476d1ce4e5b9)
	binary.LittleEndian.PutUint32(k[16:], uint32(i))
	return k
}

func TestWatchSet(t *testing.T) {
	var zero WatchSet // the zero value is usable
	if zero.Has(k1) || zero.Len() != 0 {
		t.Fatal("zero WatchSet not empty")
	}
	zero.Remove(k1) // removing from an empty set is harmless
	zero.Add(k1)
	zero.Add(k1)
	zero.Add(k2)
	cases := []struct {
		name string
		k    chain.Key
		want bool
	}{
		{"added key", k1, true},
		{"second key", k2, true},
		{"never added", k3, false},
		{"all-zero key", chain.Key{}, false},
	}
	for _, tc := range cases {
		if got := zero.Has(tc.k); got != tc.want {
			t.Errorf("%s: Has = %v, want %v", tc.name, got, tc.want)
		}
	}
	if zero.Len() != 2 {
		t.Errorf("Len = %d after adding two keys (one twice), want 2", zero.Len())
	}
	zero.Remove(k1)
	if zero.Has(k1) || zero.Len() != 1 {
		t.Errorf("after Remove: Has = %v, Len = %d", zero.Has(k1), zero.Len())
	}
}

// TestWatchSetMemory measures the heap held per key at a million keys; the
// target is under 100 bytes.
func TestWatchSetMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a million keys")
	}
	const n = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := NewWatchSet(0) // no size hint: the worst case of growing as invoices arrive
	for i := range uint64(n) {
		w.Add(spreadKey(i))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perKey := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("WatchSet: %.1f bytes/key at %d keys", perKey, w.Len())
	if perKey > 100 {
		t.Errorf("WatchSet uses %.1f bytes/key, want under 100", perKey)
	}
	runtime.KeepAlive(w)
}

func TestWatchSetPrune(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	w := NewWatchSet(0)
	forever, soon, later := spreadKey(1), spreadKey(2), spreadKey(3)
	w.Add(forever)
	w.AddUntil(soon, now.Add(10*time.Minute))
	w.AddUntil(later, now.Add(time.Hour))
	w.AddUntil(later, now.Add(time.Minute)) // an earlier time never shortens the watch
	if n := w.Prune(now); n != 0 {
		t.Fatalf("Prune before any deadline removed %d", n)
	}
	if n := w.Prune(now.Add(30 * time.Minute)); n != 1 || w.Has(soon) || !w.Has(later) || !w.Has(forever) {
		t.Fatalf("Prune at +30m removed %d; has soon=%v later=%v forever=%v", n, w.Has(soon), w.Has(later), w.Has(forever))
	}
	if n := w.Prune(now.Add(100 * 365 * 24 * time.Hour)); n != 1 || !w.Has(forever) {
		t.Fatalf("Prune far ahead removed %d; forever kept=%v", n, w.Has(forever))
	}
}
