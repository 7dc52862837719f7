// Package sqldb is the one SQL implementation of storage.DB that the SQLite
// and PostgreSQL engines share. Queries are written once with ? placeholders
// in SQL both engines accept; a small Dialect carries what differs
// (placeholders, error translation, transaction options, the migration
// lock), and each place an engine differs is commented where it matters.
//
// It is not an engine: it opens no database, holds no schema and imports no
// driver. The engine packages (storage/sqlite, storage/postgres) open the
// handles, own their migrations and translate their driver's errors.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay/internal/storage"
)

// Dialect is what differs between engines.
type Dialect struct {
	// Name is the engine name returned by DB.Engine.
	Name string
	// DollarPlaceholders rewrites ? placeholders to $1, $2, ... (PostgreSQL).
	DollarPlaceholders bool
	// TranslateError maps a driver error to a storage error: a
	// *storage.ConflictError for a unique violation, an error wrapping
	// storage.ErrForeignKey for a foreign key violation. It returns nil for
	// errors it does not recognise. It must classify by error code, never by
	// message text.
	TranslateError func(error) error
	// Retryable reports whether a failed transaction may succeed if run
	// again from the start (PostgreSQL serialization failures and
	// deadlocks). Nil means never.
	Retryable func(error) bool
	// WriteTx are the options of InTx transactions; nil for the driver's
	// default.
	WriteTx *sql.TxOptions
	// SnapshotTx are the options of the read-only transaction taken for a
	// read of several statements outside InTx (an invoice and its
	// payments), so the parts agree.
	SnapshotTx *sql.TxOptions
	// MigrationLock, if set, runs first in every migration transaction and
	// makes concurrent migrators wait for each other.
	MigrationLock string
	// SchemaTableExists is a query returning one boolean row: whether the
	// schema_migrations table exists.
	SchemaTableExists string
	// GroupCommit commits concurrent InTx callbacks together (SQLite: one
	// writer connection, one fsync per commit; PostgreSQL: one commit and
	// one WAL flush for many callers); see groupcommit.go.
	GroupCommit bool
	// GroupCommitLoops is how many batches may be in flight at once (0:
	// one, as SQLite's single writer allows).
	GroupCommitLoops int
	// GroupCommitMaxBatch bounds one batch's callbacks (0: 128).
	// PostgreSQL keeps at most 64 subtransactions per transaction in
	// shared memory; past that every snapshot in the cluster slows down.
	GroupCommitMaxBatch int
	// PriorityOwnTx runs InTx for a ctx marked by storage.WithPriority as
	// a transaction of its own on Config.Priority, outside the group
	// committer (PostgreSQL, where the reserved pool can write).
	PriorityOwnTx bool
	// PrepareWrites prepares the group committer's statements once per
	// connection (stmtcache.go).
	PrepareWrites bool
	// NowMicros is an SQL expression for the database's current time in
	// microseconds since the Unix epoch: lease expiry (lease.go) is judged
	// by it, never by an instance's clock.
	NowMicros string
	// InvoiceSeq is the column that orders invoices by insertion, the
	// chain watcher's cursor (chain.go).
	InvoiceSeq string
	// NotifyInvoiceInline, if set, is an SQL expression with one ? (the
	// payload) evaluated in the statement that inserts an invoice, once per
	// inserted row, announcing it to Config.Listen at commit: the
	// announcement costs no statement of its own (PostgreSQL: a
	// rolled-back savepoint's notifications are discarded with it).
	NotifyInvoiceInline string
	// UpdateInCTE: a WITH clause may hold an UPDATE ... RETURNING whose
	// rows the main statement uses (PostgreSQL), so a write that needs a
	// value another write returns costs one statement.
	UpdateInCTE bool
	// Unavailable reports whether a driver error means the database cannot
	// be reached (wrap turns it into storage.ErrUnavailable). Nil means
	// never.
	Unavailable func(error) bool
	// QueryText, if set, runs query on conn (a connection of the pool
	// the caller holds) with every result column in the engine's text
	// form, and calls row with each row's columns (nil for NULL; the
	// bytes are valid only during the call), stopping at row's first
	// error. A wide read (ListInvoices: 46 columns a row) spares
	// database/sql turning every column into a driver.Value and
	// converting it again into its destination: on PostgreSQL through
	// pgx that was two allocations per text column and a reflective
	// conversion per column, a third of a list's CPU. Nil: such reads
	// go through database/sql.
	QueryText func(ctx context.Context, conn *sql.Conn, query string, args []any, row func(cols [][]byte) error) error
}

// Config is what an engine hands to New.
type Config struct {
	Dialect *Dialect
	// Writer runs InTx and migrations; returned by DB.SQL.
	Writer *sql.DB
	// Reader runs Reader methods outside transactions. It may be Writer.
	Reader *sql.DB
	// Priority, if set, is a small pool used by nothing but work whose
	// context is marked by storage.WithPriority (the chain path): its reads
	// outside transactions and, on engines without group commit, its
	// InTx transactions, so that it never waits for a connection behind
	// the API's load. On SQLite it is a query_only pool (writes go through
	// the group committer's priority queue); on PostgreSQL a read-write
	// pool like Writer.
	Priority *sql.DB
	// Migrations holds files named NNNN_name.sql at its root.
	Migrations fs.FS
	Logger     *slog.Logger
	// Listen, if set, opens a dedicated connection that receives the
	// payloads of Dialect.NotifyInvoiceInline until ctx ends or the connection
	// fails, then closes the channel.
	Listen func(ctx context.Context) (<-chan string, error)
}

// DB implements storage.DB over database/sql handles.
type DB struct {
	queries    // Reader methods, on the reader pool
	d          *Dialect
	writer     *sql.DB
	reader     *sql.DB
	priority   *sql.DB // Config.Priority; nil for none
	migrations []migration
	log        *slog.Logger
	crypt      *crypt           // the keyring of sealed columns; see sealed.go
	group      *groupCommitter  // nil unless Dialect.GroupCommit; see groupcommit.go
	subs       *subscriberCache // webhook subscribers; subscribercache.go
	listen     func(ctx context.Context) (<-chan string, error)
	listStmts  readStmts // ListInvoices' statements on the reader pool; see invoice_list.go
}

var _ storage.DB = (*DB)(nil)

// New returns a DB over the handles in c. It fails only if the embedded
// migrations are malformed. Close closes every handle.
func New(c Config) (*DB, error) {
	ms, err := loadMigrations(c.Migrations)
	if err != nil {
		return nil, err
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cr := &crypt{}
	cr.strictness.d = c.Dialect
	subs := &subscriberCache{}
	db := &DB{
		queries:    queries{d: c.Dialect, q: c.Reader, pool: c.Reader, priority: c.Priority, crypt: cr, subs: subs},
		d:          c.Dialect,
		writer:     c.Writer,
		reader:     c.Reader,
		priority:   c.Priority,
		migrations: ms,
		log:        log,
		crypt:      cr,
		subs:       subs,
		listen:     c.Listen,
	}
	if c.Dialect.GroupCommit {
		db.group = newGroupCommitter(db)
	}
	return db, nil
}

// Engine names the engine.
func (db *DB) Engine() string { return db.d.Name }

// SQL returns the write handle, for a job queue that must share
// transactions with the store. On SQLite it has a single connection: a
// caller must not hold a transaction on it while calling InTx.
func (db *DB) SQL() *sql.DB { return db.writer }

// ReadSQL returns the handle Reader methods use outside transactions (on
// SQLite a query_only pool; on PostgreSQL the same handle as SQL).
func (db *DB) ReadSQL() *sql.DB { return db.reader }

// Ping checks both handles.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.writer.PingContext(ctx); err != nil {
		return db.wrap("ping", err)
	}
	if db.reader != db.writer {
		if err := db.reader.PingContext(ctx); err != nil {
			return db.wrap("ping reader", err)
		}
	}
	return nil
}

// Close closes every handle.
func (db *DB) Close() error {
	if db.group != nil {
		db.group.close()
	}
	err := db.writer.Close()
	if db.reader != db.writer {
		err = errors.Join(err, db.reader.Close())
	}
	if db.priority != nil {
		err = errors.Join(err, db.priority.Close())
	}
	return err
}

// maxAttempts bounds how often InTx runs a callback whose transaction
// failed with a retryable error.
const maxAttempts = 5

// InTx runs fn in a write transaction and commits if fn returns nil. It
// rolls back if fn returns an error or panics (the panic continues). On
// PostgreSQL a serialization failure or deadlock runs fn again from the
// start, up to five times, so fn must not have side effects outside the
// transaction. A nested InTx on SQLite deadlocks (one writer connection).
//
// database/sql rolls the transaction back itself when ctx is cancelled, so
// a cancelled request can never leave a transaction open; Rollback takes no
// context and so cannot be skipped by one.
//
// A ctx marked by storage.WithPriority goes ahead of unmarked callers: on
// SQLite through the group committer's priority queue, on PostgreSQL on
// the connections of Config.Priority (see storage/priority.go).
func (db *DB) InTx(ctx context.Context, fn func(storage.Tx) error) error {
	db.crypt.strictness.refresh(ctx, db.readPool(ctx)) // sealing.go; before the writer is held
	if db.group != nil && !(db.d.PriorityOwnTx && db.priority != nil && storage.IsPriority(ctx)) {
		return db.group.run(ctx, fn)
	}
	for attempt := 1; ; attempt++ {
		err := db.inTxOnce(ctx, fn)
		if err == nil || db.d.Retryable == nil || !db.d.Retryable(err) || attempt == maxAttempts {
			return err
		}
		// Jittered backoff so two retrying transactions do not collide again.
		wait := time.Duration(attempt) * time.Duration(1+rand.IntN(5)) * time.Millisecond
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func (db *DB) inTxOnce(ctx context.Context, fn func(storage.Tx) error) (err error) {
	db.crypt.strictness.refresh(ctx, db.readPool(ctx)) // before the writer is held
	w := db.writer
	if db.priority != nil && storage.IsPriority(ctx) {
		w = db.priority
	}
	sqlTx, err := w.BeginTx(ctx, db.d.WriteTx)
	if err != nil {
		return db.wrap("begin", err)
	}
	tx := &Tx{queries: queries{d: db.d, q: sqlTx, crypt: db.crypt, subs: db.subs}}
	done := false
	defer func() {
		if !done {
			_ = sqlTx.Rollback() // the panic or fn's error is what matters
		}
		tx.ended() // after the commit or rollback
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.settle(ctx); err != nil {
		return err
	}
	done = true
	if err := sqlTx.Commit(); err != nil {
		return db.wrap("commit", err)
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries holds the Reader methods. Inside a transaction q is the *sql.Tx
// and pool is nil; outside, both are the reader pool, and a query whose ctx
// is marked by storage.WithPriority runs on priority instead when there is
// one (Config.Priority).
type queries struct {
	d        *Dialect
	q        querier
	pool     *sql.DB
	priority *sql.DB
	crypt    *crypt
	// detach runs statements without their caller's cancellation, inside a
	// group-committed batch (see groupcommit.go).
	detach bool
	// stmts, inside a group-committed batch on an engine with
	// Dialect.PrepareWrites, runs statements prepared (stmtcache.go).
	stmts *stmtCache
	// subs caches webhook subscribers (subscribercache.go).
	subs *subscriberCache
}

// Tx implements storage.Tx: the Reader methods on the transaction plus the
// writes.
type Tx struct {
	queries
	// firstEvents are invoices this Tx created whose first event number
	// is claimed and not yet used (event.go).
	firstEvents []string
	// endpointsWritten: this Tx wrote webhook_endpoints, and the
	// subscriber cache waits for its transaction to end.
	endpointsWritten bool
}

var _ storage.Tx = (*Tx)(nil)

// snapshot runs fn so that all its statements see one state of the
// database: directly inside a transaction, in a read-only snapshot
// transaction on the pool otherwise.
func (s *queries) snapshot(ctx context.Context, fn func(*queries) error) error {
	if s.pool == nil {
		return fn(s)
	}
	pool := s.readPool(ctx)
	s.crypt.refreshOn(ctx, pool)
	tx, err := pool.BeginTx(ctx, s.d.SnapshotTx)
	if err != nil {
		return s.wrap("begin read", err)
	}
	defer func() { _ = tx.Rollback() }() // read only: nothing to commit
	return fn(&queries{d: s.d, q: tx, crypt: s.crypt, subs: s.subs})
}

func (s *queries) rebind(query string) string {
	if !s.d.DollarPlaceholders {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

func (s *queries) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	query = s.rebind(query)
	if st := s.prepared(ctx, query); st != nil {
		return st.ExecContext(s.ctx(ctx), args...)
	}
	return s.on(ctx).ExecContext(s.ctx(ctx), query, args...)
}

func (s *queries) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s.crypt.refreshOn(ctx, s.readPool(ctx)) // outside a transaction only (pool is nil inside)
	query = s.rebind(query)
	if st := s.prepared(ctx, query); st != nil {
		return st.QueryContext(s.ctx(ctx), args...)
	}
	return s.on(ctx).QueryContext(s.ctx(ctx), query, args...)
}

// prepared returns query's prepared statement bound to the transaction
// when the transaction has a statement cache holding it, else nil.
func (s *queries) prepared(ctx context.Context, query string) *sql.Stmt {
	if s.stmts == nil {
		return nil
	}
	tx, ok := s.q.(*sql.Tx)
	if !ok {
		return nil
	}
	st := s.stmts.lookup(query)
	if st == nil {
		return nil
	}
	return tx.StmtContext(s.ctx(ctx), st)
}

// readPool is the pool a read outside a transaction uses: priority for a
// marked ctx when there is one, else pool (nil inside a transaction).
func (s *queries) readPool(ctx context.Context) *sql.DB {
	if s.pool != nil && s.priority != nil && storage.IsPriority(ctx) {
		return s.priority
	}
	return s.pool
}

// on is the handle a statement runs on: the transaction inside one,
// readPool outside.
func (s *queries) on(ctx context.Context) querier {
	if p := s.readPool(ctx); p != nil {
		return p
	}
	return s.q
}

func (s *queries) ctx(ctx context.Context) context.Context {
	if s.detach {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

func (s *queries) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	s.crypt.refreshOn(ctx, s.readPool(ctx))
	query = s.rebind(query)
	if st := s.prepared(ctx, query); st != nil {
		return st.QueryRowContext(s.ctx(ctx), args...)
	}
	return s.on(ctx).QueryRowContext(s.ctx(ctx), query, args...)
}

// wrap translates err for the caller: sql.ErrNoRows becomes
// storage.ErrNotFound, constraint violations become storage errors, and
// anything else is wrapped with the operation.
func (s *queries) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ErrNotFound
	}
	if t := s.d.TranslateError(err); t != nil {
		return t
	}
	if s.d.Unavailable != nil && !errors.Is(err, storage.ErrUnavailable) && s.d.Unavailable(err) {
		return fmt.Errorf("storage: %s: %w", op, storage.UnavailableError(err))
	}
	return fmt.Errorf("storage: %s: %w", op, err)
}

// mustAffect turns an update that matched no row into ErrNotFound.
func (s *queries) mustAffect(op string, res sql.Result, err error) error {
	if err != nil {
		return s.wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// ForeignKeyError wraps a driver's foreign key violation so that
// errors.Is(err, storage.ErrForeignKey) holds and the message shows no
// driver text.
func ForeignKeyError(cause error) error { return &fkError{cause: cause} }

type fkError struct{ cause error }

func (e *fkError) Error() string   { return storage.ErrForeignKey.Error() }
func (e *fkError) Unwrap() []error { return []error{storage.ErrForeignKey, e.cause} }
