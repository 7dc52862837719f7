package watcher

import (
	"context"
	"fmt"
	"time"
)

// The watched set: the deposit addresses of every invoice still inside its
// monitoring window, whichever instance made it. Addresses arrive three
// ways: announced in-process by this instance's service (Watch), announced
// by the database when another instance's invoice commits (PostgreSQL
// NOTIFY, lead.go listen), and read from the database: incrementally by
// the invoices' insertion sequence, before any new block is connected and
// every InvoicePollInterval, and in full every RescanInterval and on
// gaining leadership. The cursor is a sequence, never a timestamp, so the
// instances' clocks do not matter.

// cursorLag is how far back in time an incremental poll re-reads: an
// invoice whose sequence number was drawn before a later one's but whose
// transaction committed after that one was read is found if it committed
// within this long. The full rescan is the backstop.
const cursorLag = 5 * time.Second

// cursorMark is the cursor reached by the poll made at a time.
type cursorMark struct {
	at  time.Time
	seq int64
}

// refresh brings the watched set up to date: the announced addresses at
// once, and a poll of the database when one is due.
func (w *Watcher) refresh(ctx context.Context) error {
	w.mu.Lock()
	pending := w.pending
	w.pending = nil
	w.mu.Unlock()
	for _, p := range pending {
		w.addAddress(p.address, p.until)
	}
	full := w.lastFull.IsZero() || time.Since(w.lastFull) >= w.rescan
	interval := w.invoicePoll
	if w.listening.Load() {
		interval = w.rescan / 4
	}
	if !full && !w.pollNow.Swap(false) && time.Since(w.lastPoll) < interval {
		return nil
	}
	return w.pollInvoices(ctx, full)
}

// pollInvoices reads the invoices still watched from the database: all of
// them if full, else those inserted after the cursor of cursorLag ago.
func (w *Watcher) pollInvoices(ctx context.Context, full bool) error {
	now, started := w.now(), time.Now()
	from := int64(0)
	if !full {
		from = w.lagCursor(started)
	}
	top := from
	if n := len(w.marks); n > 0 {
		top = max(top, w.marks[n-1].seq)
	}
	for {
		// Still watched for w.grace after the window, so that late money is
		// recorded (outside_window) rather than never seen.
		page, err := w.db.ListWatchedAddresses(ctx, w.network, now.Add(-w.grace), from, 1000)
		if err != nil {
			return fmt.Errorf("list watched addresses: %w", err)
		}
		for _, a := range page {
			w.addAddress(a.Address, a.MonitorUntil)
			from, top = a.Seq, max(top, a.Seq)
		}
		if len(page) < 1000 {
			break
		}
	}
	w.marks = append(w.marks, cursorMark{started, top})
	w.lastPoll = started
	if full {
		w.lastFull = started
	}
	if now.Sub(w.lastPrune) > 10*time.Minute {
		w.watch.Prune(now)
		w.lastPrune = now
	}
	return nil
}

// lagCursor returns the cursor of the newest poll made at least cursorLag
// before now (0 if none), and forgets the marks older than it.
func (w *Watcher) lagCursor(now time.Time) int64 {
	i := -1
	for j, m := range w.marks {
		if now.Sub(m.at) >= cursorLag {
			i = j
		}
	}
	if i < 0 {
		return 0
	}
	w.marks = w.marks[i:]
	return w.marks[0].seq
}

// addAddress watches address until the end of its invoice's monitoring
// window and w.grace beyond it, so that money arriving late is recorded as
// outside_window instead of never being seen. An address new to the set is remembered so the next mempool
// pass looks again at transactions it fed before (syncMempool).
func (w *Watcher) addAddress(address string, until time.Time) {
	k, err := w.src.KeyOf(address)
	if err != nil {
		w.log.Error("invoice address cannot be watched", "address", address, "err", err)
		return
	}
	if !w.watch.Has(k) {
		w.newKeys[k] = struct{}{}
	}
	w.watch.AddUntil(k, until.Add(w.grace))
}
