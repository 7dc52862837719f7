package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Strict sealing. Until every value of every sealed column is sealed with
// a key, the plain form ("plain:..." or a bare value written before the
// column was sealed) must read as the text it is. Once Reseal has finished
// with no plain value left, it records that in the one-row sealing_state
// table, and from then on a plain value in a sealed column is refused on
// read (ErrUnsealedValue) and a write without a key is refused too
// (ErrSealedWithoutKey). Without this, anyone able to write to the
// database could replace a sealed value with readable text of their
// choosing and the gateway would serve it as the shop's data.
//
// The flag is read at most once a minute per process, before a query
// starts rather than while its rows are open (a nested query could wait
// for a pooled connection its own caller holds); once seen set it stays
// set for the life of the process. A missing row reads as strict. What it
// cannot stop: someone with write access who also resets the flag row,
// before a process that has seen it set starts; the audit log's chain and
// `cryptopay doctor` are the checks for that.

// ErrUnsealedValue is wrapped by reads of a plain or unprefixed value in
// a sealed column of a database whose sealing is strict.
var ErrUnsealedValue = errors.New("storage: a sealed column holds an unsealed value, but every value of this database was sealed with a key (tampering, or a restore of an older backup)")

// ErrSealedWithoutKey is returned by writes of a sealed column when the
// database's sealing is strict but no encryption key is configured.
var ErrSealedWithoutKey = errors.New("storage: this database's sensitive fields are sealed with a key, but no encryption key is configured: set CRYPTOPAY_ENCRYPTION_KEY or CRYPTOPAY_ENCRYPTION_KEY_FILE")

// strictRecheck is how long a "not strict" reading of the flag is
// trusted, so a rotation run by another process takes effect here soon.
const strictRecheck = time.Minute

// strictness caches the sealing_state flag for one DB and every Tx made
// from it.
type strictness struct {
	d       *Dialect
	strict  atomic.Bool // sticky once set
	loaded  atomic.Bool // the flag was read at least once
	mu      sync.Mutex  // one reader of the flag at a time
	checked time.Time   // guarded by mu
}

// refresh reads the flag through h unless it is known to be set or was
// read less than strictRecheck ago. h must not be a handle whose only
// connection the caller holds (call it before a query or transaction
// starts). A failed read leaves the previous state; if there is none,
// reads of plain values fail until a read succeeds.
func (c *strictness) refresh(ctx context.Context, h *sql.DB) {
	if c == nil || h == nil || c.strict.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded.Load() && time.Since(c.checked) < strictRecheck {
		return
	}
	strict, err := readStrict(ctx, h, c.d)
	if err != nil {
		return
	}
	c.checked = time.Now()
	if strict {
		c.strict.Store(true)
	}
	c.loaded.Store(true)
}

// set records that the flag is set, after this process set it.
func (c *strictness) set() {
	c.strict.Store(true)
	c.loaded.Store(true)
}

// check returns nil if plain values may be read and written, an error
// wrapping ErrUnsealedValue if not, or an error saying the state is not
// known (the flag could not be read: fail closed).
func (c *strictness) check() error {
	switch {
	case c == nil:
		return nil
	case c.strict.Load():
		return ErrUnsealedValue
	case !c.loaded.Load():
		return errors.New("storage: could not read whether sealed columns are strict; refusing the plain value")
	}
	return nil
}

func readStrict(ctx context.Context, h *sql.DB, d *Dialect) (bool, error) {
	var strict bool
	err := h.QueryRowContext(ctx, `SELECT strict FROM sealing_state WHERE id = 1`).Scan(&strict)
	switch {
	case err == nil:
		return strict, nil
	case errors.Is(err, sql.ErrNoRows):
		return true, nil // the row was removed: fail closed
	}
	// A database migrated before sealing_state existed has no strict
	// sealing; any other failure is reported.
	q := `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sealing_state')`
	if d.DollarPlaceholders { // PostgreSQL
		q = `SELECT to_regclass('sealing_state') IS NOT NULL`
	}
	var exists bool
	if qerr := h.QueryRowContext(ctx, q).Scan(&exists); qerr == nil && !exists {
		return false, nil
	}
	return false, fmt.Errorf("storage: read sealing state: %w", err)
}

// SealingStrict reports whether the database's sealing is strict: every
// sealed value was sealed with a key, and plain values are refused. It
// reads the flag afresh.
func (db *DB) SealingStrict(ctx context.Context) (bool, error) {
	return readStrict(ctx, db.reader, db.d)
}

// markStrict sets the flag after a Reseal that left no plain value.
// Without the table (a schema before the flag existed) it does nothing.
func (db *DB) markStrict(ctx context.Context, keyID string) error {
	exists, err := db.tableExists(ctx, "sealing_state")
	if err != nil || !exists {
		return err
	}
	_, err = db.writer.ExecContext(ctx, db.rebind(`UPDATE sealing_state SET strict = ?, key_id = ?, updated_at = ? WHERE id = 1`),
		true, keyID, micros(time.Now()))
	if err != nil {
		return db.wrap("mark sealing strict", err)
	}
	db.crypt.strictness.set()
	return nil
}

// refreshOn refreshes the strict flag through h; see strictness.refresh.
// A nil crypt or handle does nothing.
func (c *crypt) refreshOn(ctx context.Context, h *sql.DB) {
	if c != nil {
		c.strictness.refresh(ctx, h)
	}
}
