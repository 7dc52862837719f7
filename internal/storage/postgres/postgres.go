// Package postgres is the scale-out storage engine: PostgreSQL through
// pgx's database/sql driver (github.com/jackc/pgx/v5/stdlib), so a job
// queue can share *sql.Tx with the store. Several gateway instances may
// use one database at once.
//
// It owns the PostgreSQL schema (migrations/) and the translation of
// SQLSTATE codes; the queries are shared with SQLite in storage/sqldb.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

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
}

// MaxConns is the connection pool size of one gateway instance.
const MaxConns = 20

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
		return nil, fmt.Errorf("storage: postgres: connect to %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		_ = h.Close()
		return nil, err
	}
	db, err := sqldb.New(sqldb.Config{
		Dialect:    dialect,
		Writer:     h,
		Reader:     h, // one pool: PostgreSQL readers never wait for writers
		Migrations: sub,
		Logger:     logger,
	})
	if err != nil {
		_ = h.Close()
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

func retryable(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && (e.Code == serializationFailure || e.Code == deadlockDetected)
}
