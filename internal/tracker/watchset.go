package tracker

import (
	"math"
	"sync"
	"time"

	"github.com/cryptopay/cryptopay/internal/chain"
)

// WatchSet is the set of destination keys the tracker reports payments to.
//
// A key is already a hash (a witness program or an account address), so a
// plain hash map of the 20-byte arrays is the compact choice: Go's map stores
// the key inline with no per-entry pointer, which costs about 56 bytes per key with its watch deadline
// at a million keys (see TestWatchSetMemory). A WatchSet is safe for
// concurrent use: the watcher adds keys for new invoices while the tracker
// reads the set inside Connect and Mempool. The zero value is an empty set
// ready to use.
//
// Each key carries the minute (Unix time / 60, in 32 bits: good until the
// year 10136) until which it is watched, so the watcher can drop the keys of
// invoices whose monitoring window ended without keeping a second index;
// the 4 bytes fit in the map slot's padding budget.
type WatchSet struct {
	mu   sync.RWMutex
	keys map[chain.Key]uint32
}

// forever marks a key that is watched until removed.
const forever = math.MaxUint32

// NewWatchSet returns an empty set sized for about sizeHint keys, so that
// loading every open invoice's address at start-up does not rehash.
func NewWatchSet(sizeHint int) *WatchSet {
	return &WatchSet{keys: make(map[chain.Key]uint32, max(sizeHint, 0))}
}

// Add inserts k, watched until removed; adding a key twice is harmless.
func (w *WatchSet) Add(k chain.Key) { w.add(k, forever) }

// AddUntil inserts k, watched until Prune is called with a time at or after
// until. Adding a key again keeps the later of the two times.
func (w *WatchSet) AddUntil(k chain.Key, until time.Time) {
	m := until.Unix() / 60
	w.add(k, uint32(min(max(m, 0), forever-1)))
}

func (w *WatchSet) add(k chain.Key, until uint32) {
	w.mu.Lock()
	if w.keys == nil {
		w.keys = make(map[chain.Key]uint32)
	}
	if until > w.keys[k] {
		w.keys[k] = until
	}
	w.mu.Unlock()
}

// Prune removes every key added with AddUntil whose time has come, and
// returns how many it removed.
func (w *WatchSet) Prune(now time.Time) int {
	m := uint32(min(max(now.Unix()/60, 0), forever-1))
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for k, until := range w.keys {
		if until <= m {
			delete(w.keys, k)
			n++
		}
	}
	return n
}

// Remove deletes k; removing an absent key is harmless. Payments to k that
// the tracker already follows keep being tracked until Tracker.Forget.
func (w *WatchSet) Remove(k chain.Key) {
	w.mu.Lock()
	delete(w.keys, k)
	w.mu.Unlock()
}

// Has reports whether k is in the set.
func (w *WatchSet) Has(k chain.Key) bool {
	w.mu.RLock()
	_, ok := w.keys[k]
	w.mu.RUnlock()
	return ok
}

// Len returns the number of keys in the set.
func (w *WatchSet) Len() int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return len(w.keys)
}

// rlock takes the read lock once for a whole block, so Connect does not pay
// for a lock round trip on each of thousands of outputs. It tolerates a nil
// set (nothing watched).
func (w *WatchSet) rlock() {
	if w != nil {
		w.mu.RLock()
	}
}

func (w *WatchSet) runlock() {
	if w != nil {
		w.mu.RUnlock()
	}
}

// hasLocked is Has for a caller that holds the read lock.
func (w *WatchSet) hasLocked(k chain.Key) bool {
	if w == nil {
		return false
	}
	_, ok := w.keys[k]
	return ok
}
