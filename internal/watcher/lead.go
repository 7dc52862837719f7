package watcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/tracker"
)

// Leadership. Across gateway instances sharing a database one watcher per
// network works at a time: the holder of the network's lease
// (storage.LeaseDB). The leader renews it every third of its TTL, and
// every transaction it writes chain state in checks first that the lease
// is still at the epoch it acquired (persist, apply.go), so a leader that
// stalled past its lease and was replaced writes nothing more. A leader
// that loses its lease (a renewal fails, or a write meets
// storage.ErrLeaseLost) stops at once, drops everything it held in
// memory, and competes for the lease again as a follower. A new leader
// starts from the stored snapshot and loads the whole watched set.

// defaultLeaseTTL is how long a lease lasts without renewal: the longest a
// crashed leader's chain goes unwatched, plus one acquisition attempt.
const defaultLeaseTTL = 15 * time.Second

// defaultInstance names this process as a lease holder: recognisable in
// the leases table, and unique even when two instances share a host name.
func defaultInstance() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Run follows the chain until ctx ends, while it holds the network's
// lease; without it, it waits as a standby (ready) and tries again every
// third of the TTL. Node failures are logged, reported by Ready and
// retried with backoff. Run returns nil when ctx ends.
//
// Everything Run stores (chain steps, expiry, the lease) goes ahead of the
// API's writes (storage.WithPriority): a payment must not wait for a queue
// of invoice creations to become visible.
func (w *Watcher) Run(ctx context.Context) error {
	ctx = storage.WithPriority(ctx)
	w.mu.Lock()
	w.standby = true
	w.mu.Unlock()
	for {
		epoch, err := w.acquire(ctx)
		if err != nil {
			return nil // ctx ended
		}
		err = w.lead(ctx, epoch)
		w.demote()
		if ctx.Err() != nil {
			return nil
		}
		w.log.WarnContext(ctx, "chain watcher lost leadership; following", "epoch", epoch, "err", err)
	}
}

// acquire waits until this instance holds the lease and returns its epoch.
func (w *Watcher) acquire(ctx context.Context) (int64, error) {
	for {
		epoch, err := w.db.AcquireLease(ctx, w.leaseName, w.instance, w.leaseTTL)
		switch {
		case err == nil:
			w.log.InfoContext(ctx, "chain watcher leading", "instance", w.instance, "epoch", epoch)
			return epoch, nil
		case errors.Is(err, storage.ErrLeaseHeld):
			w.setReady(nil) // another instance watches; this one is a ready standby
		case ctx.Err() != nil:
		default:
			w.log.WarnContext(ctx, "chain watcher cannot take the lease", "err", err)
			w.setReady(errDatabaseUnreachable)
		}
		t := time.NewTimer(w.leaseTTL / 3)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// errDatabaseUnreachable is the readiness error of a watcher that cannot
// reach its database (details are logged).
var errDatabaseUnreachable = errors.New("database unreachable")

// lead runs the watcher while the lease at epoch holds and returns why it
// stopped. It renews the lease in the background; a failed renewal
// cancels the steps in flight at once.
func (w *Watcher) lead(ctx context.Context, epoch int64) error {
	lctx, lose := context.WithCancelCause(ctx)
	defer lose(nil)
	w.promote(epoch)
	var wg sync.WaitGroup
	wg.Go(func() { w.renew(lctx, lose, epoch) })
	wg.Go(func() { w.listen(lctx) })
	err := w.loop(lctx)
	lost := errors.Is(err, storage.ErrLeaseLost) || errors.Is(context.Cause(lctx), storage.ErrLeaseLost)
	lose(err)
	wg.Wait()
	if !lost {
		// Stopping in good order: let another instance take over now
		// rather than after the TTL.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		if err := w.db.ReleaseLease(rctx, w.leaseName, w.instance, epoch); err != nil {
			w.log.WarnContext(ctx, "release chain watcher lease", "err", err)
		}
		cancel()
	}
	if c := context.Cause(lctx); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return err
}

// renew extends the lease every third of its TTL and ends leadership
// (lose) on the first failure: past that point another instance may take
// the lease, and this one must not act as leader any more.
func (w *Watcher) renew(ctx context.Context, lose context.CancelCauseFunc, epoch int64) {
	t := time.NewTicker(w.leaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, w.leaseTTL/3)
		err := w.db.RenewLease(rctx, w.leaseName, w.instance, epoch, w.leaseTTL)
		cancel()
		if err != nil && ctx.Err() == nil {
			if !errors.Is(err, storage.ErrLeaseLost) {
				err = fmt.Errorf("%w: renewal failed: %w", storage.ErrLeaseLost, err)
			}
			lose(err)
			return
		}
	}
}

// loop steps until ctx ends or the lease is lost.
func (w *Watcher) loop(ctx context.Context) error {
	wakeups := w.subscribe(ctx)
	backoff := time.Duration(0)
	resubscribe := time.Now().Add(30 * time.Second)
	for {
		err := w.Step(ctx)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if errors.Is(err, storage.ErrLeaseLost) {
			return err
		}
		w.setReady(err)
		wait := w.poll
		var behind *NodeBehindError
		if errors.As(err, &behind) {
			w.log.InfoContext(ctx, "node behind our tip; waiting for it", "node_height", behind.Node, "our_height", behind.Ours)
		} else if err != nil {
			backoff = min(max(2*backoff, time.Second), 30*time.Second)
			wait = backoff
			w.log.WarnContext(ctx, "chain watcher step failed; retrying", "err", err, "retry_in", backoff)
		} else {
			backoff = 0
		}
		if wakeups == nil && time.Now().After(resubscribe) {
			wakeups = w.subscribe(ctx)
			resubscribe = time.Now().Add(30 * time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case _, ok := <-wakeups:
			if !ok {
				wakeups = nil
			}
		case <-w.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// promote starts leadership at epoch from a clean slate: the next Step
// reloads the tracker from the stored snapshot and rescans the whole
// watched set.
func (w *Watcher) promote(epoch int64) {
	w.reset()
	w.mu.Lock()
	w.epoch, w.standby = epoch, false
	w.pending = nil
	w.mu.Unlock()
}

// demote ends leadership: nothing held in memory survives, since another
// instance may now be changing what it described.
func (w *Watcher) demote() {
	w.mu.Lock()
	w.epoch, w.standby = 0, true
	w.pending = nil
	w.mu.Unlock()
	w.reset()
}

// reset drops the watched set, the tracker and the mempool memory.
func (w *Watcher) reset() {
	w.mu.Lock() // against Watching
	w.watch = tracker.NewWatchSet(0)
	w.mu.Unlock()
	w.tr = tracker.New(tracker.Config{SafetyLimit: w.tr.SafetyLimit()}, w.watch)
	w.loaded = false
	w.mempool = map[string][]chain.Key{}
	w.newKeys = map[chain.Key]struct{}{}
	w.marks = nil
	w.lastFull, w.lastPoll, w.lastPrune = time.Time{}, time.Time{}, time.Time{}
	w.listening.Store(false)
}

// leading returns the epoch of the lease held, or 0 (a follower; and a
// watcher driven by Step alone, in tests, which writes unfenced).
func (w *Watcher) leading() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.epoch
}

// fence makes tx write nothing unless this watcher still holds the lease
// of epoch, the one it acquired: every write of the settlement loop (chain
// steps and time alike) goes through it. Epoch 0 (a watcher driven by Step
// alone, in tests) writes unfenced.
func (w *Watcher) fence(ctx context.Context, tx storage.Tx, epoch int64) error {
	if epoch == 0 {
		return nil
	}
	return tx.CheckLease(ctx, w.leaseName, epoch)
}

// listen feeds the invoices other instances create to the watched set as
// they commit, for as long as the leader leads. While the listener is
// down the leader polls every InvoicePollInterval instead (refresh).
func (w *Watcher) listen(ctx context.Context) {
	for ctx.Err() == nil {
		ch, err := w.db.ListenInvoices(ctx)
		if err == nil && ch == nil {
			return // the engine has no notifications (SQLite: one process)
		}
		if err == nil {
			w.listening.Store(true)
			w.pollNow.Store(true) // catch what committed before LISTEN took effect
			w.wake()
			for a := range ch {
				if a.Network == w.network {
					w.announce(a.Address, a.MonitorUntil)
				}
			}
			w.listening.Store(false)
			err = errors.New("listener connection closed")
		}
		if ctx.Err() != nil {
			return
		}
		w.log.WarnContext(ctx, "not notified of new invoices; polling", "err", err, "interval", w.invoicePoll)
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
