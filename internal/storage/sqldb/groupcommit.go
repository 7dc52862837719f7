package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cryptopay/cryptopay/internal/storage"
)

// Group commit: on SQLite every commit is an fsync on the one writer
// connection, so throughput under concurrency comes from committing many
// callers' transactions together, never from weaker durability
// (synchronous=FULL stays). One goroutine takes every InTx request queued
// while the previous batch was committing, runs each callback inside its
// own SAVEPOINT of one transaction (a failing callback rolls back to its
// savepoint only), commits once, and only then answers the callers whose
// callbacks succeeded. A caller therefore never hears "done" before its
// writes are durable, and a batch behaves exactly as if its callbacks had
// run one after the other.
//
// Statements inside a batch ignore their callers' cancellation: SQLite
// rolls back the whole transaction when a write statement is interrupted,
// which would throw away the other callers' work. A cancelled caller whose
// turn has not come yet is skipped.
//
// Priority (storage.WithPriority): the chain path must not wait behind a
// queue of invoice creations. Priority requests wait in a queue of their
// own, which the loop always takes first and commits as a batch of their
// own (never mixed with ordinary callbacks, so they wait for no one's
// callbacks but each other's). A batch of ordinary callbacks in progress
// checks before each callback whether a priority request waits; if one
// does, it commits what has run so far (those callers hear "done", as
// after any commit), puts the callbacks not yet run back at the head of
// the ordinary queue, and lets the priority batch go first. So a priority
// caller waits for at most one ordinary callback and one commit.

// defaultMaxBatch bounds one commit's callbacks so a burst cannot hold
// the writer for long (Dialect.GroupCommitMaxBatch overrides it).
const defaultMaxBatch = 128

type groupRequest struct {
	ctx context.Context
	fn  func(storage.Tx) error
	// create, instead of fn, is a new invoice to write with the batch's
	// others in multi-row statements (newinvoice.go).
	create *storage.NewInvoice
	done   chan groupResult
	// attempts counts runs that failed with a retryable error.
	attempts int
}

type groupResult struct {
	err   error
	panic any // a callback's panic, re-raised in the caller's goroutine
}

type groupCommitter struct {
	db       *DB
	loops    int // batches in flight at once (Dialect.GroupCommitLoops)
	maxBatch int
	stmts    *stmtCache // nil unless Dialect.PrepareWrites
	start    sync.Once
	wake     chan struct{} // capacity 1: a request was queued
	quit     chan struct{}
	stop     sync.Once
	wg       sync.WaitGroup

	// observe, if set, is told the size of each committed batch and
	// whether it was a priority one (ObserveBatches; metrics).
	observe atomic.Pointer[func(size int, priority bool)]

	mu     sync.Mutex
	closed bool
	urgent []*groupRequest // priority requests, oldest first
	queue  []*groupRequest // ordinary requests, oldest first
	// inflight counts batches being run, by the loops or by a lone
	// caller on its own goroutine; at most loops at once (SQLite: one,
	// the single writer).
	inflight int
}

func newGroupCommitter(db *DB) *groupCommitter {
	g := &groupCommitter{db: db, loops: max(1, db.d.GroupCommitLoops), maxBatch: db.d.GroupCommitMaxBatch,
		wake: make(chan struct{}, 1), quit: make(chan struct{})}
	if g.maxBatch <= 0 {
		g.maxBatch = defaultMaxBatch
	}
	if db.d.PrepareWrites {
		g.stmts = newStmtCache()
	}
	return g
}

// ObserveBatches has f told the size of every group-committed batch and
// whether it was a priority batch (the chain path). It does nothing on an
// engine without group commit (PostgreSQL). f must not block.
func (db *DB) ObserveBatches(f func(size int, priority bool)) {
	if db.group != nil {
		db.group.observe.Store(&f)
	}
}

var errClosed = errors.New("storage: database is closed")

// run queues fn for the next batch (a priority batch if ctx is marked by
// storage.WithPriority) and waits for its outcome.
func (g *groupCommitter) run(ctx context.Context, fn func(storage.Tx) error) error {
	return g.submit(ctx, &groupRequest{ctx: ctx, fn: fn, done: make(chan groupResult, 1)})
}

// submit queues req (run) and waits for its outcome.
func (g *groupCommitter) submit(ctx context.Context, req *groupRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	g.start.Do(func() {
		for range g.loops {
			g.wg.Add(1)
			go g.loop()
		}
	})
	priority := storage.IsPriority(ctx)
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return errClosed
	}
	switch {
	case !priority && g.inflight < g.loops && len(g.urgent)+len(g.queue) == 0:
		// Alone, with a batch slot free: commit at once, on this goroutine
		// (no hand-off to a loop and back, no waiting for company). Those
		// arriving meanwhile queue for the loops as usual.
		g.inflight++
		g.wg.Add(1) // close waits for this batch as for a loop's
		g.mu.Unlock()
		rest := g.commit([]*groupRequest{req}, true)
		g.finished(rest)
		g.wg.Done()
	case priority:
		g.urgent = append(g.urgent, req)
		g.mu.Unlock()
		g.wakeLoop()
	default:
		g.queue = append(g.queue, req)
		g.mu.Unlock()
		g.wakeLoop()
	}
	var res groupResult
	select {
	case res = <-req.done:
	case <-ctx.Done():
		// Leave at once if the request is still queued; once taken, the
		// outcome is awaited even though ctx ended: the callback may
		// already be part of a batch that is committing.
		if g.withdraw(req) {
			return ctx.Err()
		}
		res = <-req.done
	}
	if res.panic != nil {
		panic(res.panic)
	}
	return res.err
}

// withdraw removes req from its queue and reports whether it was there.
func (g *groupCommitter) withdraw(req *groupRequest) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, q := range []*[]*groupRequest{&g.urgent, &g.queue} {
		if i := slices.Index(*q, req); i >= 0 {
			*q = slices.Delete(*q, i, i+1)
			return true
		}
	}
	return false
}

// close stops the loop after the batch in flight; queued and later
// requests fail with errClosed.
func (g *groupCommitter) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.stop.Do(func() { close(g.quit) })
	g.wg.Wait()
	g.stmts.close()
	g.mu.Lock()
	left := append(g.urgent, g.queue...)
	g.urgent, g.queue = nil, nil
	g.mu.Unlock()
	for _, r := range left {
		r.done <- groupResult{err: errClosed}
	}
}

func (g *groupCommitter) loop() {
	defer g.wg.Done()
	for {
		select {
		case <-g.quit:
			return
		default:
		}
		batch, priority := g.next()
		if len(batch) == 0 {
			select {
			case <-g.quit:
				return
			case <-g.wake:
			}
			continue
		}
		g.finished(g.commit(batch, !priority))
	}
}

// finished ends a batch: it frees its slot, queues the callbacks it
// handed back at the head of the queue, and wakes a loop if work waits (a
// loop may have found every slot taken).
func (g *groupCommitter) finished(requeue []*groupRequest) {
	g.mu.Lock()
	g.inflight--
	if len(requeue) > 0 {
		g.queue = append(requeue, g.queue...)
	}
	waiting := len(g.urgent)+len(g.queue) > 0
	g.mu.Unlock()
	if waiting {
		g.wakeLoop()
	}
}

func (g *groupCommitter) wakeLoop() {
	select {
	case g.wake <- struct{}{}:
	default: // a loop is already woken
	}
}

// next takes the next batch off the queues: the waiting priority requests
// if there are any, else the oldest ordinary ones, up to maxBatch either
// way; nothing once the committer is closing.
func (g *groupCommitter) next() (batch []*groupRequest, priority bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, false // close fails what is queued
	}
	if g.inflight >= g.loops {
		return nil, false // every slot is taken; finished wakes a loop
	}
	q := &g.queue
	if len(g.urgent) > 0 {
		q, priority = &g.urgent, true
	}
	n := min(len(*q), g.maxBatch)
	if n == 0 {
		return nil, false
	}
	batch = slices.Clone((*q)[:n])
	*q = slices.Delete(*q, 0, n)
	g.inflight++
	if len(g.urgent)+len(g.queue) > 0 && g.loops > 1 {
		select { // more than one batch waits: wake another loop for it
		case g.wake <- struct{}{}:
		default:
		}
	}
	return batch, priority
}

// urgentWaiting reports whether a priority request waits.
func (g *groupCommitter) urgentWaiting() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.urgent) > 0
}

// commit runs one batch in one transaction. If yield, it stops early when
// a priority request waits: it commits the callbacks run so far and
// returns those it did not run, for the caller to queue again. It also
// returns the callbacks that failed with a retryable error (PostgreSQL
// deadlocks and serialization failures), to run again in a later batch,
// after this one's locks are gone.
//
// Savepoints: a callback that runs while no earlier callback of the
// transaction has succeeded runs without one (if it fails, the whole
// transaction is rolled back: it held nothing else), so a lone caller
// costs exactly BEGIN, its statements and COMMIT. Each later callback runs
// after a SAVEPOINT, never released: ROLLBACK TO goes back to the most
// recent savepoint of the name on both engines, and a release would cost a
// statement for nothing.
func (g *groupCommitter) commit(batch []*groupRequest, yield bool) (requeue []*groupRequest) {
	if batch = g.createInvoices(batch); len(batch) == 0 {
		return nil
	}
	db := g.db
	var (
		sqlTx *sql.Tx
		ok    []*groupRequest // succeeded in sqlTx, not yet answered
		txs   []*Tx           // every callback's Tx, told when the batch has ended
	)
	defer func() {
		for _, tx := range txs {
			tx.ended()
		}
	}()
	for i, r := range batch {
		if yield && i > 0 && g.urgentWaiting() {
			requeue = append(requeue, batch[i:]...)
			break
		}
		if err := r.ctx.Err(); err != nil {
			r.done <- groupResult{err: err}
			continue
		}
		if sqlTx == nil {
			var err error
			if sqlTx, err = db.writer.BeginTx(context.Background(), db.d.WriteTx); err != nil {
				err = db.wrap("begin", err)
				for _, r := range batch[i:] {
					r.done <- groupResult{err: err}
				}
				return requeue
			}
		}
		first := len(ok) == 0
		// When the transaction itself fails, every caller not yet answered
		// hears so: those that succeeded in it, this one, and those that
		// never ran.
		if !first {
			if err := g.stmts.exec(sqlTx, `SAVEPOINT cp_batch`); err != nil {
				g.abort(sqlTx, append(ok, batch[i:]...), err)
				return requeue
			}
		}
		tx := &Tx{queries: queries{d: db.d, q: sqlTx, crypt: db.crypt, detach: true, stmts: g.stmts, subs: db.subs}}
		res := call(r.fn, tx)
		if res.err == nil && res.panic == nil {
			res.err = tx.settle(r.ctx) // still inside its savepoint
		}
		txs = append(txs, tx)
		if res.err == nil && res.panic == nil {
			ok = append(ok, r)
			continue
		}
		retry := res.panic == nil && db.d.Retryable != nil && db.d.Retryable(res.err) && r.attempts+1 < maxAttempts
		answer := func() {
			if retry {
				r.attempts++
				requeue = append(requeue, r)
			} else {
				r.done <- res
			}
		}
		// The callback failed: undo its writes only. If even that fails the
		// transaction is gone (SQLite rolled it back), and with it the
		// earlier callbacks' writes.
		if first {
			_ = sqlTx.Rollback() // nothing else was in it
			sqlTx = nil
		} else if err := g.stmts.exec(sqlTx, `ROLLBACK TO cp_batch`); err != nil {
			answer()
			g.abort(sqlTx, append(ok, batch[i+1:]...), err)
			return requeue
		}
		answer()
	}
	if sqlTx == nil {
		return requeue // nothing succeeded: nothing to commit
	}
	if err := sqlTx.Commit(); err != nil {
		err = db.wrap("commit", err)
		for _, r := range ok {
			r.done <- groupResult{err: err}
		}
		return requeue
	}
	if f := g.observe.Load(); f != nil && len(ok) > 0 {
		(*f)(len(ok), !yield)
	}
	for _, r := range ok {
		r.done <- groupResult{}
	}
	g.stmts.prepareNew(db.writer) // between batches: the writer is free
	return requeue
}

// createInvoices writes the batch's new invoices (groupRequest.create)
// together, in a transaction of their own before the callbacks' (so a
// failure of either cannot undo the other), answers their callers, and
// returns the rest of the batch.
func (g *groupCommitter) createInvoices(batch []*groupRequest) (rest []*groupRequest) {
	var (
		reqs []*groupRequest
		ns   []*storage.NewInvoice
	)
	for _, r := range batch {
		switch {
		case r.create == nil:
			rest = append(rest, r)
		case r.ctx.Err() != nil:
			r.done <- groupResult{err: r.ctx.Err()}
		default:
			reqs = append(reqs, r)
			ns = append(ns, r.create)
		}
	}
	if len(reqs) == 0 {
		return rest
	}
	errs := g.db.createNewInvoices(ns)
	written := 0
	for i, r := range reqs {
		if errs[i] == nil {
			written++
		}
		r.done <- groupResult{err: errs[i]}
	}
	if f := g.observe.Load(); f != nil && written > 0 {
		(*f)(written, false)
	}
	g.stmts.prepareNew(g.db.writer) // between transactions: the writer is free
	return rest
}

// abort rolls the batch back and fails every request in unanswered: none
// of their writes survived (or they never ran).
func (g *groupCommitter) abort(sqlTx interface{ Rollback() error }, unanswered []*groupRequest, cause error) {
	_ = sqlTx.Rollback()
	err := fmt.Errorf("storage: batch transaction aborted: %w", cause)
	for _, r := range unanswered {
		r.done <- groupResult{err: err}
	}
}

// call runs fn, turning a panic into a result.
func call(fn func(storage.Tx) error, tx *Tx) (res groupResult) {
	defer func() {
		if p := recover(); p != nil {
			res = groupResult{panic: p}
		}
	}()
	return groupResult{err: fn(tx)}
}
