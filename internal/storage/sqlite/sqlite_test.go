package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/sqlite"
	"github.com/cryptopay/cryptopay/internal/storage/storagetest"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.DB { return testdb.OpenSQLite(t) })
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nested", "cryptopay.db")
	db, err := sqlite.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		mode os.FileMode
	}{
		{filepath.Dir(path), 0o700},
		{path, 0o600},
	} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^tc.mode != 0 {
			t.Errorf("%s: mode %v, want at most %v", filepath.Base(tc.path), got, tc.mode)
		}
	}

	pragmas := []struct {
		name, want string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
	}
	for _, p := range pragmas {
		var got string
		if err := db.SQL().QueryRowContext(t.Context(), "PRAGMA "+p.name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != p.want {
			t.Errorf("writer PRAGMA %s = %s, want %s", p.name, got, p.want)
		}
		if err := db.ReadSQL().QueryRowContext(t.Context(), "PRAGMA "+p.name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if p.name != "synchronous" && got != p.want {
			t.Errorf("reader PRAGMA %s = %s, want %s", p.name, got, p.want)
		}
	}
	// The reader pool cannot write.
	if _, err := db.ReadSQL().ExecContext(t.Context(), "CREATE TABLE nope (x INTEGER)"); err == nil {
		t.Error("reader pool accepted a write")
	}
}

func TestOpenRefusesNonFilePaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		if db, err := sqlite.Open(t.Context(), p, nil); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func BenchmarkBareInsert(b *testing.B) {
	storagetest.BareInsertBaseline(b, testdb.OpenSQLite(b))
}

func BenchmarkListInvoices100k(b *testing.B) {
	storagetest.ListInvoicesBaseline(b, testdb.OpenSQLite(b), 100_000)
}

// BenchmarkListInvoiceShapes1M: one page of each API and dashboard list
// shape with 1,000,000 invoices in the store (seeding takes a while).
func BenchmarkListInvoiceShapes1M(b *testing.B) {
	storagetest.ListInvoiceShapes(b, testdb.OpenSQLite(b), 1_000_000)
}

func BenchmarkNewInvoiceWrites(b *testing.B) {
	storagetest.NewInvoiceWrites(b, testdb.OpenSQLite(b))
}
