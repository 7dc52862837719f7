package sqldb

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay/internal/storage"
)

// migration is one numbered SQL file. Versions are dense: 1, 2, 3...
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads NNNN_name.sql files from fsys's root and checks the
// versions run 1..n without gaps, so a missing file fails at startup rather
// than leaving a schema half migrated.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("storage: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || path.Ext(name) != ".sql" {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("storage: migration %q is not named NNNN_name.sql", name)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("storage: read migration %q: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("storage: migration %q: expected version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// schemaTable is created by the migrator itself, identically on both
// engines, before the first migration runs.
const schemaTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version BIGINT PRIMARY KEY,
	applied_at BIGINT NOT NULL
)`

// Migrate applies pending migrations, each in its own transaction together
// with its schema_migrations row, and returns how many it applied. Running
// it again, or in two processes at once on PostgreSQL (an advisory lock
// serialises them), applies nothing twice. It refuses a schema newer than
// this binary with storage.ErrSchemaTooNew.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	applied := 0
	for _, m := range db.migrations {
		did, err := db.applyMigration(ctx, m)
		if err != nil {
			return applied, err
		}
		if did {
			applied++
			db.log.InfoContext(ctx, "storage: applied migration", "engine", db.d.Name, "migration", m.name)
		}
	}
	if err := db.CheckSchema(ctx); err != nil {
		return applied, err
	}
	return applied, nil
}

func (db *DB) applyMigration(ctx context.Context, m migration) (bool, error) {
	did := false
	err := db.InTx(ctx, func(t storage.Tx) error {
		s := &t.(*Tx).queries
		if db.d.MigrationLock != "" {
			if _, err := s.q.ExecContext(ctx, db.d.MigrationLock); err != nil {
				return s.wrap("migration lock", err)
			}
		}
		if _, err := s.exec(ctx, schemaTable); err != nil {
			return s.wrap("create schema_migrations", err)
		}
		// Read under the lock: another instance may have applied it while
		// this one waited.
		var current int
		if err := s.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return s.wrap("read schema version", err)
		}
		if current >= m.version {
			return nil
		}
		// Not rebound: migration files are engine SQL and may contain "?".
		if _, err := s.q.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("storage: migration %s: %w", m.name, err)
		}
		if _, err := s.exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
			m.version, time.Now().UnixMicro()); err != nil {
			return s.wrap("record migration", err)
		}
		did = true
		return nil
	})
	return did, err
}

// SchemaVersion returns the highest applied migration (0 on an empty
// database) and the highest this binary knows.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int, err error) {
	current, err = db.schemaVersion(ctx)
	return current, len(db.migrations), err
}

func (db *DB) schemaVersion(ctx context.Context) (int, error) {
	var exists bool
	if err := db.writer.QueryRowContext(ctx, db.d.SchemaTableExists).Scan(&exists); err != nil {
		return 0, db.wrap("check schema table", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := db.writer.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, db.wrap("read schema version", err)
	}
	return v, nil
}

// CheckSchema returns storage.ErrSchemaOutdated or storage.ErrSchemaTooNew
// (wrapped with both versions) unless the schema is exactly current.
func (db *DB) CheckSchema(ctx context.Context) error {
	current, latest, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	switch {
	case current < latest:
		return fmt.Errorf("%w (database at %d, binary at %d)", storage.ErrSchemaOutdated, current, latest)
	case current > latest:
		return fmt.Errorf("%w (database at %d, binary at %d)", storage.ErrSchemaTooNew, current, latest)
	}
	return nil
}
