// Package postgres is the scale-out storage engine: PostgreSQL through
// pgx's database/sql driver (github.com/jackc/pgx/v5/stdlib). Several gateway instances may
// use one database at once. Invoice lists read their rows through the
// pool connection's pgx.Conn itself (queryText), skipping database/sql's
// per-column conversion.
//
// It owns the PostgreSQL schema (migrations/) and the translation of
// SQLSTATE codes; the queries are shared with SQLite in storage/sqldb.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/sqldb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockKey is the pg_advisory_xact_lock key migrators share
// ("cryptopa" in ASCII), so instances starting together migrate one at a
// time.
const migrationLockKey = 0x63727970746f7061

// dialect is where PostgreSQL differs from SQLite.
var dialect = &sqldb.Dialect{
	Name:               "postgres",
	DollarPlaceholders: true,
	TranslateError:     translateError,
	Retryable:          retryable,
	// Writers run concurrently at READ COMMITTED; atomic single-statement
	// updates (address allocation) and row locks keep them correct, and
	// the rare serialization failure or deadlock is retried by InTx.
	WriteTx: &sql.TxOptions{Isolation: sql.LevelReadCommitted},
	// READ COMMITTED takes a new snapshot per statement; a read of an
	// invoice and its payments needs one snapshot for both.
	SnapshotTx:        &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
	MigrationLock:     fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", int64(migrationLockKey)),
	SchemaTableExists: `SELECT to_regclass('schema_migrations') IS NOT NULL`,
	// Lease expiry on the server's clock; clock_timestamp, not now(), which
	// is frozen at the transaction's start.
	NowMicros:  `CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)`,
	InvoiceSeq: "watch_seq",
	// NOTIFY is transactional: the leader hears of an invoice when its
	// transaction commits, never before. Sent by the insert itself: one
	// round trip fewer per transaction. The global notification lock is
	// taken once per notifying transaction, however many it sends, so a
	// group-committed batch still serialises on it once.
	NotifyInvoiceInline: `pg_notify(` + invoiceChannel + `, ?)::text`,
	Unavailable:         unavailable,
	UpdateInCTE:         true,
	// Group commit: concurrent InTx callbacks share a transaction, so a
	// burst of invoice creations costs one commit (one WAL flush, one
	// notification) per batch instead of one per invoice. Several batches
	// run at once on the pool; the chain path keeps its own transactions
	// on the reserved pool. 48 callbacks stay under the 64 subtransactions
	// PostgreSQL tracks per transaction without overflowing.
	GroupCommit:         true,
	GroupCommitLoops:    4,
	GroupCommitMaxBatch: 48,
	PriorityOwnTx:       true,
	QueryText:           queryText,
}

// invoiceChannel is the NOTIFY channel of new invoices, per schema, so
// gateways (or test runs) sharing a database in different schemas do not
// hear each other. A channel name is an identifier of at most 63 bytes.
const invoiceChannel = `left('cryptopay_invoices_' || current_schema(), 63)`

// MaxConns is the connection pool size of one gateway instance.
const MaxConns = 20

// PriorityConns is the size of the pool reserved for the chain path
// (storage.WithPriority: each network's watcher steps and lease renewals),
// beside MaxConns, so it never waits for a connection behind the API's
// load.
const PriorityConns = 4

// Open connects to the database at url (a postgres:// URL or key=value
// DSN; runtime parameters such as search_path may be given in it) and
// pings it. It does not migrate: call Migrate or CheckSchema. A nil logger
// discards. Errors never include the password.
func Open(ctx context.Context, url string, logger *slog.Logger) (*sqldb.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx redacts the password in parse errors.
		return nil, fmt.Errorf("storage: postgres: %w", err)
	}
	h := stdlib.OpenDB(*cfg)
	h.SetMaxOpenConns(MaxConns)
	h.SetMaxIdleConns(MaxConns)
	if err := h.PingContext(ctx); err != nil {
		_ = h.Close()
		if unavailable(err) {
			err = storage.UnavailableError(err)
		}
		return nil, fmt.Errorf("storage: postgres: connect to %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	prio := stdlib.OpenDB(*cfg)
	prio.SetMaxOpenConns(PriorityConns)
	prio.SetMaxIdleConns(PriorityConns)
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		_ = errors.Join(h.Close(), prio.Close())
		return nil, err
	}
	db, err := sqldb.New(sqldb.Config{
		Dialect:    dialect,
		Writer:     h,
		Reader:     h, // one pool: PostgreSQL readers never wait for writers
		Priority:   prio,
		Migrations: sub,
		Logger:     logger,
		Listen:     listener(cfg.Copy()),
	})
	if err != nil {
		_ = errors.Join(h.Close(), prio.Close())
		return nil, err
	}
	return db, nil
}

// SQLSTATE codes this engine acts on.
const (
	uniqueViolation      = "23505"
	foreignKeyViolation  = "23503"
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
)

func translateError(err error) error {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return nil
	}
	switch e.Code {
	case uniqueViolation:
		// For a unique index (api_keys_hash_key) PostgreSQL reports the
		// index name, which the migration names like a constraint.
		return &storage.ConflictError{Constraint: e.ConstraintName, Err: err}
	case foreignKeyViolation:
		return sqldb.ForeignKeyError(err)
	}
	return nil
}

// unavailable classifies the errors that mean the server cannot be
// reached now, by type and SQLSTATE, never by message text: a failed
// connect (refused, timed out, DNS), a connection lost mid-statement, and
// the server refusing work because it is shutting down, crashed or
// starting (class 08 connection exceptions, 57P01-57P03). A query that
// merely ran into its caller's deadline is not one.
func unavailable(err error) bool {
	if e, ok := errors.AsType[*pgconn.PgError](err); ok {
		return strings.HasPrefix(e.Code, "08") || e.Code == "57P01" || e.Code == "57P02" || e.Code == "57P03"
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	// pgx's "conn closed" / "conn busy": nothing was sent on a connection
	// that is gone.
	return pgconn.SafeToRetry(err)
}

// queryText is Dialect.QueryText: the query runs on conn's pgx connection
// itself (database/sql's Raw), through the same per-connection statement
// cache as every other statement, asking for every result column in text
// form, and row sees pgx's raw column bytes. A connection left broken
// (pgx closes it on a failure or a cancelled ctx) is dropped by the pool
// when Raw returns it, as after any other statement.
func queryText(ctx context.Context, conn *sql.Conn, query string, args []any, row func([][]byte) error) error {
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("storage: postgres: driver connection is %T, not pgx's", dc)
		}
		rows, err := c.Conn().Query(ctx, query, append([]any{textResults}, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := row(rows.RawValues()); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// textResults asks for every result column in text format.
var textResults = pgx.QueryResultFormats{pgx.TextFormatCode}

// listener opens a connection of its own (not from the pool, which
// database/sql may close or hand to others) and LISTENs on the invoice
// channel. The channel of payloads closes when the connection fails or
// ctx ends; the caller polls meanwhile and listens again.
func listener(cfg *pgx.ConnConfig) func(ctx context.Context) (<-chan string, error) {
	return func(ctx context.Context) (<-chan string, error) {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return nil, err
		}
		var channel string
		if err := conn.QueryRow(ctx, `SELECT `+invoiceChannel).Scan(&channel); err != nil {
			_ = conn.Close(context.WithoutCancel(ctx))
			return nil, err
		}
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
			_ = conn.Close(context.WithoutCancel(ctx))
			return nil, err
		}
		out := make(chan string, 256)
		go func() {
			defer close(out)
			defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
			for {
				n, err := conn.WaitForNotification(ctx)
				if err != nil {
					return
				}
				select {
				case out <- n.Payload:
				case <-ctx.Done():
					return
				}
			}
		}()
		return out, nil
	}
}

func retryable(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && (e.Code == serializationFailure || e.Code == deadlockDetected)
}
