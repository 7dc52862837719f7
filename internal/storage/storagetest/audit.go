package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/sqldb"
)

func auditEntry(storeID string, n int) *storage.AuditEntry {
	at := base.Add(time.Duration(n) * time.Second)
	return &storage.AuditEntry{
		ID: cryptopay.NewID("aud", at), StoreID: storeID, Actor: "operator",
		Action: "api_key.created", Target: fmt.Sprintf("key_%d", n), SourceIP: "192.0.2.7",
		RequestID: fmt.Sprintf("req_%d", n), Details: `{"n":` + fmt.Sprint(n) + `}`, CreatedAt: at,
	}
}

func appendAudit(t *testing.T, db storage.DB, e *storage.AuditEntry) {
	t.Helper()
	inTx(t, db, func(tx storage.Tx) error { return tx.AppendAudit(t.Context(), e) })
}

// testAudit checks appends chain, a rolled back append leaves no gap,
// concurrent appends never fork the chain, and lists filter by store.
func testAudit(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	if n, err := storage.VerifyAudit(ctx, db); err != nil || n != 0 {
		t.Fatalf("empty log: verify = %d, %v", n, err)
	}
	first := auditEntry("", 1)
	appendAudit(t, db, first)
	if first.Seq != 1 || len(first.PrevHash) != 0 || len(first.Hash) != 32 {
		t.Fatalf("first entry: seq %d prev %x hash %x", first.Seq, first.PrevHash, first.Hash)
	}
	// An append whose transaction rolls back leaves no trace.
	boom := errors.New("boom")
	err := db.InTx(ctx, func(tx storage.Tx) error {
		if err := tx.AppendAudit(ctx, auditEntry("", 2)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				e := auditEntry(fmt.Sprintf("sto_%d", w%2), 100+w*each+i)
				errs <- db.InTx(ctx, func(tx storage.Tx) error { return tx.AppendAudit(ctx, e) })
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	n, err := storage.VerifyAudit(ctx, db)
	if err != nil || n != 1+workers*each {
		t.Fatalf("verify = %d, %v; want %d entries and no error", n, err, 1+workers*each)
	}
	got, more, err := db.ListAuditEntries(ctx, storage.AuditFilter{StoreID: "sto_1", Limit: 7})
	if err != nil || !more || len(got) != 7 {
		t.Fatalf("list = %d entries, more %v, %v", len(got), more, err)
	}
	for i, e := range got {
		if e.StoreID != "sto_1" || i > 0 && e.Seq >= got[i-1].Seq {
			t.Fatalf("entry %d: store %q seq %d: want sto_1 newest first", i, e.StoreID, e.Seq)
		}
	}
	rest, more, err := db.ListAuditEntries(ctx, storage.AuditFilter{StoreID: "sto_1", BeforeSeq: got[6].Seq, Limit: 100})
	if err != nil || more || len(rest) != workers*each/2-7 {
		t.Fatalf("second page = %d entries, more %v, %v", len(rest), more, err)
	}
}

// testAuditTamper changes, removes and reorders rows behind the store's
// back and checks verification names the entry at fault.
func testAuditTamper(t *testing.T, open Opener) {
	tests := []struct {
		name    string
		sql     []string
		wantSeq int64
		reason  string
	}{
		{"intact", nil, 0, ""},
		{"changed target", []string{`UPDATE audit_log SET target = 'key_other' WHERE seq = 3`}, 3, "changed"},
		{"changed actor and rehashed", []string{`UPDATE audit_log SET actor = 'key_x', hash = prev_hash WHERE seq = 4`}, 4, "changed"},
		{"removed middle", []string{`DELETE FROM audit_log WHERE seq = 2`}, 2, "missing"},
		{"removed last", []string{`DELETE FROM audit_log WHERE seq = 5`}, 5, "missing"},
		{"reordered", []string{
			`UPDATE audit_log SET seq = 100 WHERE seq = 3`,
			`UPDATE audit_log SET seq = 3 WHERE seq = 4`,
			`UPDATE audit_log SET seq = 4 WHERE seq = 100`}, 3, "link"},
		{"renumbered to close a gap", []string{
			`DELETE FROM audit_log WHERE seq = 3`,
			`UPDATE audit_log SET seq = 3 WHERE seq = 4`,
			`UPDATE audit_log SET seq = 4 WHERE seq = 5`}, 3, "link"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			db := migrated(t, open)
			for i := 1; i <= 5; i++ {
				appendAudit(t, db, auditEntry("", i))
			}
			for _, q := range tc.sql {
				if _, err := db.SQL().ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			n, err := storage.VerifyAudit(ctx, db)
			if tc.wantSeq == 0 {
				if err != nil || n != 5 {
					t.Fatalf("verify = %d, %v; want 5 and nil", n, err)
				}
				return
			}
			var ce *storage.AuditChainError
			if !errors.As(err, &ce) {
				t.Fatalf("verify = %v, want *AuditChainError", err)
			}
			if ce.Seq != tc.wantSeq || !strings.Contains(ce.Reason, tc.reason) {
				t.Errorf("verify blames entry %d (%s), want %d (%s)", ce.Seq, ce.Reason, tc.wantSeq, tc.reason)
			}
		})
	}
}

// crypter is what the SQL engines offer for sealed columns.
type crypter interface {
	SetKeyring(*fieldcrypt.Keyring)
	Reseal(ctx context.Context) (*sqldb.ResealStats, error)
}

func keyring(t *testing.T, keys ...fieldcrypt.Key) *fieldcrypt.Keyring {
	t.Helper()
	kr, err := fieldcrypt.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func rawInvoiceCol(t *testing.T, db storage.DB, col, id string) string {
	t.Helper()
	var v string
	if err := db.SQL().QueryRowContext(t.Context(), rebind(db, `SELECT `+col+` FROM invoices WHERE id = ?`), id).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func setRawInvoiceCol(t *testing.T, db storage.DB, col, id, v string) {
	t.Helper()
	if _, err := db.SQL().ExecContext(t.Context(), rebind(db, `UPDATE invoices SET `+col+` = ? WHERE id = ?`), v, id); err != nil {
		t.Fatal(err)
	}
}

// testSealedColumns checks customer references and metadata are sealed at
// rest, bound to their row, rotate to a new key, and fail loudly when
// tampered with or when their key is gone.
func testSealedColumns(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	c, ok := db.(crypter)
	if !ok {
		t.Skip("engine has no sealed columns")
	}
	keyA, keyB := fieldcrypt.Key{1}, fieldcrypt.Key{2}
	st := newStore(t, "sealed")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })

	// Written in plain mode (no key), then sealed by a rotation.
	plainInv := newInvoice(st, 1, "o-1")
	plainInv.CustomerReference, plainInv.Metadata = "user_1", map[string]string{"sku": "A-1"}
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, plainInv) })
	if v := rawInvoiceCol(t, db, "customer_reference", plainInv.ID); !strings.HasPrefix(v, "plain:") {
		t.Fatalf("plain mode stored %q", v)
	}
	c.SetKeyring(keyring(t, keyA))
	sealedInv := newInvoice(st, 2, "o-2")
	sealedInv.CustomerReference, sealedInv.Metadata = "user_2", map[string]string{"sku": "B-2"}
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, sealedInv) })
	for _, col := range []string{"customer_reference", "metadata"} {
		v := rawInvoiceCol(t, db, col, sealedInv.ID)
		if !strings.HasPrefix(v, "v1:"+keyA.ID()+":") || strings.Contains(v, "user_2") || strings.Contains(v, "B-2") {
			t.Fatalf("%s stored as %q; want sealed with key %s", col, v, keyA.ID())
		}
	}
	for _, inv := range []*cryptopay.Invoice{plainInv, sealedInv} {
		got, err := db.GetInvoice(ctx, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "invoice read back", wantInvoice(inv), got)
	}

	stats, err := c.Reseal(ctx)
	if err != nil || stats.Resealed != 2 || stats.Remaining[keyA.ID()] != 4 || len(stats.Remaining) != 1 {
		t.Fatalf("reseal to A = %+v, %v; want 2 resealed, 4 values under A", stats, err)
	}
	// Rotation: B seals, A still opens until the rotation completes.
	c.SetKeyring(keyring(t, keyB, keyA))
	if _, err := db.GetInvoice(ctx, sealedInv.ID); err != nil {
		t.Fatalf("old key during rotation: %v", err)
	}
	stats, err = c.Reseal(ctx)
	if err != nil || stats.Resealed != 4 || stats.Remaining[keyB.ID()] != 4 || len(stats.Remaining) != 1 {
		t.Fatalf("reseal to B = %+v, %v; want 4 resealed, all under B", stats, err)
	}
	c.SetKeyring(keyring(t, keyB)) // A dropped
	got, err := db.GetInvoice(ctx, sealedInv.ID)
	if err != nil {
		t.Fatalf("after dropping the old key: %v", err)
	}
	diff(t, "invoice after rotation", wantInvoice(sealedInv), got)
	if stats, err = c.Reseal(ctx); err != nil || stats.Resealed != 0 {
		t.Fatalf("second reseal = %+v, %v; want nothing to do", stats, err)
	}

	// Tampering: every case is an error wrapping fieldcrypt's, on single
	// reads and lists alike, never a garbled value.
	good := rawInvoiceCol(t, db, "metadata", sealedInv.ID)
	other := rawInvoiceCol(t, db, "metadata", plainInv.ID)
	// Swap one base64 character for another valid one, so the value still
	// decodes and only the authentication tag can catch it.
	flip := []byte(good)
	if flip[len(flip)-5] == 'A' {
		flip[len(flip)-5] = 'B'
	} else {
		flip[len(flip)-5] = 'A'
	}
	tamper := []struct {
		name  string
		value string
		want  error
	}{
		{"flipped byte", string(flip), fieldcrypt.ErrTampered},
		{"moved from another row", other, fieldcrypt.ErrTampered},
		{"truncated", good[:len(good)-30], fieldcrypt.ErrTampered},
		{"unknown key", strings.Replace(good, keyB.ID(), "00000000", 1), fieldcrypt.ErrUnknownKey},
		{"not base64", "v1:" + keyB.ID() + ":%%%", fieldcrypt.ErrMalformed},
	}
	for _, tc := range tamper {
		t.Run(tc.name, func(t *testing.T) {
			setRawInvoiceCol(t, db, "metadata", sealedInv.ID, tc.value)
			defer setRawInvoiceCol(t, db, "metadata", sealedInv.ID, good)
			if _, err := db.GetInvoice(ctx, sealedInv.ID); !errors.Is(err, tc.want) && !(tc.want == fieldcrypt.ErrTampered && errors.Is(err, fieldcrypt.ErrMalformed)) {
				t.Errorf("GetInvoice = %v, want %v", err, tc.want)
			}
			if _, _, err := db.ListInvoices(ctx, storage.InvoiceFilter{StoreID: st.ID}); err == nil {
				t.Error("ListInvoices succeeded over a tampered row")
			}
		})
	}
	if _, err := db.GetInvoice(ctx, sealedInv.ID); err != nil {
		t.Fatalf("restored value: %v", err)
	}
	// A tampered value stops a rotation, naming the value.
	setRawInvoiceCol(t, db, "customer_reference", plainInv.ID, string(flip))
	c.SetKeyring(keyring(t, keyA, keyB))
	if _, err := c.Reseal(ctx); !errors.Is(err, fieldcrypt.ErrTampered) || !strings.Contains(err.Error(), plainInv.ID) {
		t.Errorf("reseal over a tampered value = %v; want ErrTampered naming %s", err, plainInv.ID)
	}
}

// testRedactInvoice checks a redaction erases the personal fields and
// keeps the money facts.
func testRedactInvoice(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "redact")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })
	inv := newInvoice(st, 1, "o-1")
	inv.CustomerReference, inv.Metadata = "user_9", map[string]string{"sku": "A-1"}
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, inv) })
	inTx(t, db, func(tx storage.Tx) error { return tx.RedactInvoice(ctx, inv.ID) })
	got, err := db.GetInvoice(ctx, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := wantInvoice(inv)
	want.CustomerReference, want.Metadata = "", nil
	diff(t, "redacted invoice", want, got)
	err = db.InTx(ctx, func(tx storage.Tx) error { return tx.RedactInvoice(ctx, "inv_missing") })
	wantNotFound(t, "redact missing invoice", err)
}
