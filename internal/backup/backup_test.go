package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/backup"
	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/sqldb"
	"github.com/cryptopay/cryptopay/internal/storage/sqlite"
)

func openSQLite(t *testing.T, path string) *sqldb.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func count(t *testing.T, db *sql.DB, q string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRowContext(t.Context(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// seed creates a store and writes invoice n with its event in one
// transaction, as the gateway does.
func writeInvoice(ctx context.Context, db storage.DB, st *cryptopay.Store, n int) error {
	now := time.Now()
	inv := &cryptopay.Invoice{ID: cryptopay.NewID(cryptopay.PrefixInvoice, now), StoreID: st.ID,
		OrderID: fmt.Sprintf("o-%d", n), Amount: big.NewInt(int64(n) + 1), CryptoDue: big.NewInt(int64(n) + 1),
		AmountPaid: new(big.Int), AmountConfirmed: new(big.Int), Currency: "BTC", Network: cryptopay.NetworkBitcoinRegtest, Asset: "BTC",
		Address: fmt.Sprintf("bcrt1q%d", n), AddressIndex: uint32(n), Status: cryptopay.StatusNew,
		CustomerReference: fmt.Sprintf("user_%d", n), Metadata: map[string]string{"n": fmt.Sprint(n)},
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), MonitorUntil: now.Add(2 * time.Hour)}
	return db.InTx(ctx, func(tx storage.Tx) error {
		if err := tx.CreateInvoice(ctx, inv); err != nil {
			return err
		}
		ev := cryptopay.NewInvoiceEvent(cryptopay.EventInvoiceCreated, inv, nil, now)
		return tx.CreateEvent(ctx, &ev)
	})
}

// TestBackupWhileWriting backs up a database that is being written, with
// sealed fields, restores it and checks the copy is one consistent state
// equal to the source up to that point.
func TestBackupWhileWriting(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	src := openSQLite(t, filepath.Join(dir, "src.db"))
	if _, err := src.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	kr, _ := fieldcrypt.NewKeyring(fieldcrypt.Key{7})
	src.SetKeyring(kr)
	st := &cryptopay.Store{ID: cryptopay.NewID(cryptopay.PrefixStore, time.Now()), Name: "s", DefaultCurrency: "USD",
		Confirmations: cryptopay.DefaultConfirmationPolicy(), CreatedAt: time.Now(),
		Wallets: []cryptopay.Wallet{{Network: cryptopay.NetworkBitcoinRegtest, AccountKey: "vpub", Fingerprint: "00000000"}}}
	if err := src.InTx(ctx, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) }); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := writeInvoice(ctx, src, st, i); err != nil {
			t.Fatal(err)
		}
	}
	// A writer keeps going during the backup.
	var written atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 200; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := writeInvoice(ctx, src, st, i); err != nil {
				t.Error(err)
				return
			}
			written.Add(1)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for written.Load() < 20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling the writer's progress, not synchronising
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := backup.Write(ctx, src.Engine(), src.SQL(), dir, &buf, id.Recipient())
	close(stop)
	wg.Wait()
	if err != nil || n == 0 {
		t.Fatalf("backup = %d, %v", n, err)
	}
	if bytes.Contains(buf.Bytes(), []byte("SQLite format")) || bytes.Contains(buf.Bytes(), []byte("user_1")) {
		t.Fatal("backup holds plaintext")
	}
	path := filepath.Join(dir, "restored", "cryptopay.db")
	if _, err := backup.Restore(bytes.NewReader(buf.Bytes()), path, id); err != nil {
		t.Fatal(err)
	}
	dst := openSQLite(t, path)
	if err := dst.CheckSchema(ctx); err != nil {
		t.Fatal(err)
	}
	dst.SetKeyring(kr)
	invs := count(t, dst.SQL(), `SELECT count(*) FROM invoices`)
	evs := count(t, dst.SQL(), `SELECT count(*) FROM events`)
	if invs < 220 || invs != evs {
		t.Fatalf("restored %d invoices and %d events; want at least 220 and one event each", invs, evs)
	}
	if total := count(t, src.SQL(), `SELECT count(*) FROM invoices`); invs > total {
		t.Fatalf("restored %d invoices, source has %d", invs, total)
	}
	list, _, err := dst.ListInvoices(ctx, storage.InvoiceFilter{StoreID: st.ID, Page: storage.Page{Limit: 5}})
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range list {
		want, err := src.GetInvoice(ctx, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dst.GetInvoice(ctx, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got, cmp.Comparer(func(a, b *big.Int) bool { return a.Cmp(b) == 0 })); d != "" {
			t.Errorf("restored invoice %s differs (-source +restored):\n%s", inv.ID, d)
		}
	}
}

func TestBackupErrors(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	src := openSQLite(t, filepath.Join(dir, "src.db"))
	if _, err := src.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Recipients("", "correct horse"); err != nil {
		t.Fatal(err)
	}
	// The same recipient as Recipients makes, at a test's work factor.
	sr, err := age.NewScryptRecipient("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	sr.SetWorkFactor(10)
	pass := []age.Recipient{sr}
	var buf bytes.Buffer
	if _, err := backup.Write(ctx, src.Engine(), src.SQL(), dir, &buf, pass...); err != nil {
		t.Fatal(err)
	}
	good, _ := backup.Identities("", "correct horse")
	wrong, _ := backup.Identities("", "wrong horse")
	other, _ := age.GenerateX25519Identity()
	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	tamperedBuf := bytes.Clone(buf.Bytes())
	tamperedBuf[len(tamperedBuf)-10] ^= 1
	tests := []struct {
		name string
		data []byte
		path string
		ids  []age.Identity
		want string
	}{
		{"passphrase round trip", buf.Bytes(), filepath.Join(dir, "ok.db"), good, ""},
		{"wrong passphrase", buf.Bytes(), filepath.Join(dir, "a.db"), wrong, "decrypt"},
		{"wrong identity", buf.Bytes(), filepath.Join(dir, "b.db"), []age.Identity{other}, "decrypt"},
		{"tampered backup", tamperedBuf, filepath.Join(dir, "c.db"), good, "restore"},
		{"target exists", buf.Bytes(), existing, good, "exists"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := backup.Restore(bytes.NewReader(tc.data), tc.path, tc.ids...)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("restore = %v, want an error mentioning %q", err, tc.want)
			}
			if tc.path != existing {
				if _, err := os.Stat(tc.path); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a failed restore left %s behind", tc.path)
				}
			} else if b, _ := os.ReadFile(existing); string(b) != "keep me" {
				t.Error("restore overwrote an existing file")
			}
		})
	}
	if _, err := backup.Write(ctx, "postgres", src.SQL(), dir, &buf, pass...); !errors.Is(err, backup.ErrNotSQLite) {
		t.Errorf("postgres backup = %v, want ErrNotSQLite", err)
	}
	if _, err := backup.Recipients("", ""); err == nil {
		t.Error("a backup without recipient or passphrase was allowed")
	}
	if _, err := backup.Recipients("age1notakey", ""); err == nil {
		t.Error("a malformed recipient was accepted")
	}
}
