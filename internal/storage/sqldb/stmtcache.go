package sqldb

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache holds the writer's prepared statements on engines whose
// driver prepares every unprepared statement anew (SQLite through
// modernc.org/sqlite: parsing and planning a 25-column INSERT, and even a
// SAVEPOINT, on every call). pgx caches prepared statements per connection
// itself, so PostgreSQL needs none.
//
// A statement is prepared on the writer pool, never through a batch's
// transaction: on SQLite the pool has one connection, which the batch
// holds. So a statement first seen in a batch runs unprepared there and is
// prepared between batches (prepareNew), when the connection is free; the
// batches after it bind it to their transaction (Tx.StmtContext), which
// reuses the statement already prepared on that connection.
type stmtCache struct {
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
	pending map[string]struct{}
}

// maxCachedStmts bounds the cache; statements past it run unprepared. The
// writer's statements are a fixed set of query texts (lists with a
// variable number of placeholders excepted).
const maxCachedStmts = 256

func newStmtCache() *stmtCache {
	return &stmtCache{stmts: map[string]*sql.Stmt{}, pending: map[string]struct{}{}}
}

// lookup returns the prepared statement of query, or nil (and remembers
// query for prepareNew). A nil cache has nothing.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stmts[query]
	if st == nil && len(c.stmts)+len(c.pending) < maxCachedStmts {
		c.pending[query] = struct{}{}
	}
	return st
}

// exec runs query (without arguments) in tx, prepared when it can be.
func (c *stmtCache) exec(tx *sql.Tx, query string) error {
	var err error
	if st := c.lookup(query); st != nil {
		_, err = tx.Stmt(st).Exec()
	} else {
		_, err = tx.Exec(query)
	}
	return err
}

// prepareNew prepares the statements seen since the last call. Failures
// are ignored: such a statement keeps running unprepared, and reports its
// own error there.
func (c *stmtCache) prepareNew(db *sql.DB) {
	if c == nil {
		return
	}
	c.mu.Lock()
	var todo []string
	for q := range c.pending {
		todo = append(todo, q)
	}
	clear(c.pending)
	c.mu.Unlock()
	for _, q := range todo {
		st, err := db.PrepareContext(context.Background(), q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		c.stmts[q] = st
		c.mu.Unlock()
	}
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		_ = st.Close()
	}
	clear(c.stmts)
}
