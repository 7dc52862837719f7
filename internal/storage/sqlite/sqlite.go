// Package sqlite is the embedded storage engine: one SQLite file through
// modernc.org/sqlite (pure Go, driver name "sqlite"), configured for
// durability (WAL, synchronous=FULL), with one writer connection and a
// separate read-only pool.
//
// It owns the SQLite schema (migrations/) and the translation of SQLite
// error codes; the queries are shared with PostgreSQL in storage/sqldb. It
// is not safe for several processes to serve from one file at once (they
// would contend on SQLite's write lock); use PostgreSQL to scale out.
package sqlite

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"database/sql"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/sqldb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// dialect is where SQLite differs from PostgreSQL.
var dialect = &sqldb.Dialect{
	Name:           "sqlite",
	TranslateError: translateError,
	// Write transactions need no options: the writer DSN sets
	// _txlock=immediate, so BEGIN takes the write lock at once and a
	// transaction never fails to upgrade a read lock half way through.
	WriteTx: nil,
	// A deferred read transaction on the query_only pool pins one WAL
	// snapshot for all its statements.
	SnapshotTx:        &sql.TxOptions{ReadOnly: true},
	MigrationLock:     "", // the single writer connection already serialises migrations
	SchemaTableExists: `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')`,
	// One writer connection and one fsync per commit: concurrent write
	// transactions are committed together.
	GroupCommit: true,
	// modernc.org/sqlite prepares every unprepared statement anew; the
	// writer's are prepared once (sqldb's statement cache).
	PrepareWrites: true,
	// The database's clock is the process's (one machine, one process).
	NowMicros:  `CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)`,
	InvoiceSeq: "rowid", // insertion order = commit order under one writer; see 0010_leases.sql
	// No NotifyInvoiceInline: one process owns the file, and the service tells
	// its own watcher of each new invoice in-process. A busy database is
	// not an unavailable one (Unavailable is nil): SQLITE_BUSY past the
	// busy timeout stays an internal error.
}

// priorityReaders is the size of the read-only pool reserved for the chain
// path (storage.WithPriority).
const priorityReaders = 2

// busyTimeoutMillis is how long a connection waits for another process's
// lock (a CLI command beside a running server) before SQLITE_BUSY.
const busyTimeoutMillis = 10000

// Open opens (creating if needed) the database file at path, creating its
// parent directory with mode 0700 and the file with mode 0600, and pings
// it. It does not migrate: call Migrate or CheckSchema. path is a plain
// file path; ":memory:", "file:" URIs and paths containing '?' are refused
// because the writer and reader pools must open the same file. A nil
// logger discards.
func Open(ctx context.Context, path string, logger *slog.Logger) (*sqldb.DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("storage: sqlite: %q is not a plain database file path", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("storage: sqlite: create directory: %w", err)
	}
	// Create the file ourselves so it is private from the first byte;
	// SQLite creates the -wal and -shm files with the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("storage: sqlite: open database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("storage: sqlite: open database file: %w", err)
	}

	// Pragmas go in the DSN so every pooled connection gets them, not just
	// the first. modernc applies busy_timeout first, then the rest.
	pragmas := []string{
		fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis),
		"foreign_keys(1)",
		"journal_mode(WAL)",
		"synchronous(FULL)", // an acknowledged write survives a power cut
	}
	writerQ := url.Values{"_pragma": pragmas, "_txlock": {"immediate"}}
	writer, err := sql.Open("sqlite", path+"?"+writerQ.Encode())
	if err != nil {
		return nil, fmt.Errorf("storage: sqlite: %w", err)
	}
	// One writer connection: SQLite allows one writer at a time anyway, and
	// queueing in database/sql is cheaper than spinning on SQLITE_BUSY.
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	// The first connection switches the file to WAL before readers open.
	if err := writer.PingContext(ctx); err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("storage: sqlite: open %s: %w", filepath.Base(path), err)
	}

	readerQ := url.Values{"_pragma": append(pragmas[:2:2], "query_only(1)")}
	reader, err := sql.Open("sqlite", path+"?"+readerQ.Encode())
	if err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("storage: sqlite: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	if err := reader.PingContext(ctx); err != nil {
		_ = errors.Join(writer.Close(), reader.Close())
		return nil, fmt.Errorf("storage: sqlite: open reader: %w", err)
	}

	// The chain path's reads (storage.WithPriority) get connections of
	// their own, so they never wait behind the API's; its writes go
	// through the group committer's priority queue.
	prio, err := sql.Open("sqlite", path+"?"+readerQ.Encode())
	if err != nil {
		_ = errors.Join(writer.Close(), reader.Close())
		return nil, fmt.Errorf("storage: sqlite: %w", err)
	}
	prio.SetMaxOpenConns(priorityReaders)
	prio.SetMaxIdleConns(priorityReaders)
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		_ = errors.Join(writer.Close(), reader.Close(), prio.Close())
		return nil, err
	}
	db, err := sqldb.New(sqldb.Config{
		Dialect:    dialect,
		Writer:     writer,
		Reader:     reader,
		Priority:   prio,
		Migrations: sub,
		Logger:     logger,
	})
	if err != nil {
		_ = errors.Join(writer.Close(), reader.Close(), prio.Close())
		return nil, err
	}
	return db, nil
}

// constraints names SQLite's unique constraints as the migrations declare
// them. SQLite reports a violation by code (SQLITE_CONSTRAINT_UNIQUE or
// _PRIMARYKEY) but never by constraint name; its message lists the
// columns instead ("table.col, table.col"), so the name is looked up from
// that list. The code alone decides that it is a conflict.
var constraints = map[string]string{
	"stores.id":                            "stores_pkey",
	"wallets.store_id, wallets.network":    "wallets_pkey",
	"wallets.network, wallets.fingerprint": "wallets_network_fingerprint_key",
	"api_keys.id":                          "api_keys_pkey",
	"api_keys.hash":                        "api_keys_hash_key",
	"invoices.id":                          "invoices_pkey",
	"invoices.store_id, invoices.order_id": "invoices_store_order_key",
	"invoices.network, invoices.address":   "invoices_network_address_key",
	"payments.id":                          "payments_pkey",
	"payments.tx_id, payments.vout, payments.invoice_id": "payments_tx_vout_invoice_key",
	"events.id": "events_pkey",
	"idempotency_records.store_id, idempotency_records.key": "idempotency_records_pkey",
	"schema_migrations.version":                             "schema_migrations_pkey",
	"dashboard_users.id":                                    "dashboard_users_pkey",
	"dashboard_users.email":                                 "dashboard_users_email_key",
	"dashboard_grants.user_id, dashboard_grants.store_id":   "dashboard_grants_pkey",
}

// constraintName returns the declared name for the column list in a
// SQLite constraint message, or "unknown".
func constraintName(msg string) string {
	i := strings.LastIndex(msg, "failed: ")
	if i < 0 {
		return "unknown"
	}
	cols := msg[i+len("failed: "):]
	if j := strings.Index(cols, " ("); j >= 0 { // modernc appends " (code)"
		cols = cols[:j]
	}
	if name, ok := constraints[strings.TrimSpace(cols)]; ok {
		return name
	}
	return "unknown"
}

func translateError(err error) error {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return nil
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return &storage.ConflictError{Constraint: constraintName(e.Error()), Err: err}
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqldb.ForeignKeyError(err)
	}
	return nil
}
