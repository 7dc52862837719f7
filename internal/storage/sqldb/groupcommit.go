package sqldb

import (
	"context"
	"errors"
	"fmt"
	"sync"

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

// maxBatch bounds one commit's callbacks so a burst cannot hold the writer
// for long.
const maxBatch = 128

type groupRequest struct {
	ctx  context.Context
	fn   func(storage.Tx) error
	done chan groupResult
}

type groupResult struct {
	err   error
	panic any // a callback's panic, re-raised in the caller's goroutine
}

type groupCommitter struct {
	db    *DB
	start sync.Once
	reqs  chan *groupRequest
	quit  chan struct{}
	stop  sync.Once
	wg    sync.WaitGroup
}

func newGroupCommitter(db *DB) *groupCommitter {
	return &groupCommitter{db: db, reqs: make(chan *groupRequest), quit: make(chan struct{})}
}

var errClosed = errors.New("storage: database is closed")

// run queues fn for the next batch and waits for its outcome.
func (g *groupCommitter) run(ctx context.Context, fn func(storage.Tx) error) error {
	g.start.Do(func() {
		g.wg.Add(1)
		go g.loop()
	})
	req := &groupRequest{ctx: ctx, fn: fn, done: make(chan groupResult, 1)}
	select {
	case g.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.quit:
		return errClosed
	}
	// Once queued, the outcome is awaited even if ctx ends: the callback may
	// already be part of a batch that is committing.
	res := <-req.done
	if res.panic != nil {
		panic(res.panic)
	}
	return res.err
}

// close stops the loop after the batch in flight; later requests fail.
func (g *groupCommitter) close() {
	g.stop.Do(func() { close(g.quit) })
	g.wg.Wait()
}

func (g *groupCommitter) loop() {
	defer g.wg.Done()
	batch := make([]*groupRequest, 0, maxBatch)
	for {
		select {
		case <-g.quit:
			return
		case r := <-g.reqs:
			batch = append(batch[:0], r)
		}
	collect:
		for len(batch) < maxBatch {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break collect
			}
		}
		g.commit(batch)
	}
}

// commit runs one batch in one transaction.
func (g *groupCommitter) commit(batch []*groupRequest) {
	db := g.db
	sqlTx, err := db.writer.BeginTx(context.Background(), db.d.WriteTx)
	if err != nil {
		for _, r := range batch {
			r.done <- groupResult{err: db.wrap("begin", err)}
		}
		return
	}
	tx := &Tx{queries: queries{d: db.d, q: sqlTx, crypt: db.crypt, detach: true}}
	var ok []*groupRequest
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- groupResult{err: err}
			continue
		}
		// When the transaction itself fails, every caller not yet answered
		// hears so: those that succeeded in it, this one, and those that
		// never ran.
		if _, err := sqlTx.Exec(`SAVEPOINT cp_batch`); err != nil {
			g.abort(sqlTx, append(ok, batch[i:]...), err)
			return
		}
		res := call(r.fn, tx)
		if res.err == nil && res.panic == nil {
			if _, err := sqlTx.Exec(`RELEASE cp_batch`); err != nil {
				g.abort(sqlTx, append(ok, batch[i:]...), err)
				return
			}
			ok = append(ok, r)
			continue
		}
		// The callback failed: undo its writes only. If even that fails the
		// transaction is gone (SQLite rolled it back), and with it the
		// earlier callbacks' writes.
		if _, err := sqlTx.Exec(`ROLLBACK TO cp_batch`); err != nil {
			r.done <- res
			g.abort(sqlTx, append(ok, batch[i+1:]...), err)
			return
		}
		_, _ = sqlTx.Exec(`RELEASE cp_batch`)
		r.done <- res
	}
	if err := sqlTx.Commit(); err != nil {
		err = db.wrap("commit", err)
		for _, r := range ok {
			r.done <- groupResult{err: err}
		}
		return
	}
	for _, r := range ok {
		r.done <- groupResult{}
	}
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
