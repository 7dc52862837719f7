package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

func testIdempotency(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "idem")
	key, other := newAPIKey(st, base), newAPIKey(st, base.Add(time.Millisecond))
	inTx(t, db, func(tx storage.Tx) error {
		if err := tx.CreateStore(ctx, st); err != nil {
			return err
		}
		if err := tx.CreateAPIKey(ctx, key); err != nil {
			return err
		}
		return tx.CreateAPIKey(ctx, other)
	})

	rec := func(k *cryptopay.APIKey, ikey string, state storage.IdempotencyState, at time.Time) *storage.IdempotencyRecord {
		return &storage.IdempotencyRecord{
			APIKeyID: k.ID, Key: ikey, Method: "POST", Path: "/v1/invoices",
			RequestHash: cryptopay.HashAPIKeySecret(ikey), State: state, CreatedAt: at,
		}
	}
	old := rec(key, "old", storage.IdempotencyPending, base)
	fresh := rec(key, "fresh", storage.IdempotencyPending, base.Add(25*time.Hour))
	secret := rec(key, "secret", storage.IdempotencySecretShown, base.Add(25*time.Hour))
	inTx(t, db, func(tx storage.Tx) error {
		return errors.Join(tx.PutIdempotencyRecord(ctx, old), tx.PutIdempotencyRecord(ctx, fresh),
			tx.PutIdempotencyRecord(ctx, secret))
	})
	got, err := db.GetIdempotencyRecord(ctx, key.ID, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	want := *fresh
	want.CreatedAt, want.Body = us(fresh.CreatedAt), []byte{}
	diff(t, "pending record", &want, got)

	// Completing stores the response; only a pending record completes.
	body := []byte(`{"id":"inv_x"}` + "\x00\xff")
	inTx(t, db, func(tx storage.Tx) error { return tx.CompleteIdempotencyRecord(ctx, key.ID, "fresh", 201, body) })
	got, err = db.GetIdempotencyRecord(ctx, key.ID, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	want.State, want.Status, want.Body = storage.IdempotencyDone, 201, body
	diff(t, "completed record", &want, got)
	for _, ikey := range []string{"fresh", "secret", "missing"} {
		inTx(t, db, func(tx storage.Tx) error {
			wantNotFound(t, "completing a record that is not pending: "+ikey,
				tx.CompleteIdempotencyRecord(ctx, key.ID, ikey, 200, []byte("{}")))
			return nil
		})
	}
	if got, err := db.GetIdempotencyRecord(ctx, key.ID, "secret"); err != nil || got.State != storage.IdempotencySecretShown || len(got.Body) != 0 {
		t.Errorf("secret record after a refused completion: %+v, %v", got, err)
	}

	_, err = db.GetIdempotencyRecord(ctx, key.ID, "missing")
	wantNotFound(t, "unknown key", err)
	_, err = db.GetIdempotencyRecord(ctx, other.ID, "fresh")
	wantNotFound(t, "record of another API key of the same store", err)

	// Another API key may use the same Idempotency-Key independently.
	inTx(t, db, func(tx storage.Tx) error {
		return tx.PutIdempotencyRecord(ctx, rec(other, "fresh", storage.IdempotencyPending, base))
	})

	// A second record with the same key loses, and its transaction can
	// still read the winner's record.
	inTx(t, db, func(tx storage.Tx) error {
		wantConflict(t, tx.PutIdempotencyRecord(ctx, rec(key, "fresh", storage.IdempotencyPending, base)), "idempotency_records_pkey")
		r, err := tx.GetIdempotencyRecord(ctx, key.ID, "fresh")
		if err == nil && r.Status != 201 {
			t.Errorf("winner's record status %d", r.Status)
		}
		return err
	})

	var n int64
	inTx(t, db, func(tx storage.Tx) error {
		var err error
		n, err = tx.DeleteIdempotencyRecords(ctx, base.Add(24*time.Hour))
		return err
	})
	if n != 2 {
		t.Errorf("deleted %d records, want 2 (one per API key)", n)
	}
	_, err = db.GetIdempotencyRecord(ctx, key.ID, "old")
	wantNotFound(t, "expired record", err)
	if _, err := db.GetIdempotencyRecord(ctx, key.ID, "fresh"); err != nil {
		t.Errorf("fresh record deleted: %v", err)
	}
}

// testIdempotencyClaimRace runs transactions that each claim the same
// Idempotency-Key and then make an effect (an invoice), all at once.
// Exactly one effect must commit: on PostgreSQL the losers' inserts wait
// for the winner's commit and then conflict; on SQLite the writer
// serialises them.
func testIdempotencyClaimRace(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "idem race")
	key := newAPIKey(st, base)
	inTx(t, db, func(tx storage.Tx) error {
		return errors.Join(tx.CreateStore(ctx, st), tx.CreateAPIKey(ctx, key))
	})
	const n = 12
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = db.InTx(ctx, func(tx storage.Tx) error {
				claim := &storage.IdempotencyRecord{APIKeyID: key.ID, Key: "same", Method: "POST", Path: "/v1/invoices",
					RequestHash: []byte{1}, State: storage.IdempotencyPending, CreatedAt: base}
				if err := tx.PutIdempotencyRecord(ctx, claim); err != nil {
					return err
				}
				time.Sleep(5 * time.Millisecond) // hold the claim while others arrive
				return tx.CreateInvoice(ctx, newInvoice(st, i, fmt.Sprintf("race-%d", i)))
			})
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		if err == nil {
			won++
			continue
		}
		if ce, ok := errors.AsType[*storage.ConflictError](err); !ok || ce.Constraint != "idempotency_records_pkey" {
			t.Errorf("transaction %d: %v, want a conflict on idempotency_records_pkey", i, err)
		}
	}
	invs, _, err := db.ListInvoices(ctx, storage.InvoiceFilter{StoreID: st.ID, Livemode: st.Livemode, Page: storage.Page{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if won != 1 || len(invs) != 1 {
		t.Errorf("%d transactions committed and %d invoices exist; want exactly one of each", won, len(invs))
	}
}
