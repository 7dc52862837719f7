package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cryptopay/cryptopay/internal/storage"
)

// testConcurrentTransactions runs many write transactions at once, some of
// which fail, panic or are cancelled, and checks that exactly the
// successful ones are stored and that each caller hears its own outcome.
// On both engines this exercises group commit: one failing callback (its
// own error, a panic, or a statement the database refused, which aborts a
// PostgreSQL transaction) must not take its batch neighbours down with
// it, and a success is reported only after the batch is durable.
func testConcurrentTransactions(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "concurrent tx")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })

	const n = 96
	errFail := errors.New("callback failed on purpose")
	type outcome struct {
		err      error
		panicked bool
	}
	out := make([]outcome, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			cctx := ctx
			if i%11 == 0 {
				c, cancel := context.WithCancel(ctx)
				cancel() // cancelled before it could run
				cctx = c
			}
			defer func() {
				if p := recover(); p != nil {
					out[i].panicked = true
				}
			}()
			out[i].err = db.InTx(cctx, func(tx storage.Tx) error {
				if i%5 == 3 {
					// A statement the database refuses: on PostgreSQL it
					// aborts the transaction, which a batch must survive.
					other := newStore(t, "missing")
					if err := tx.CreateInvoice(ctx, newInvoice(other, i, fmt.Sprintf("order-%d", i))); err != nil {
						return err
					}
					return errors.New("an invoice of an unknown store was accepted")
				}
				inv := newInvoice(st, i, fmt.Sprintf("order-%d", i))
				if err := tx.CreateInvoice(ctx, inv); err != nil {
					return err
				}
				switch {
				case i%3 == 1:
					return errFail // written, then refused: must not be stored
				case i%7 == 2:
					panic("callback panicked on purpose")
				}
				return nil
			})
		})
	}
	close(start)
	wg.Wait()

	want := map[string]bool{}
	for i, o := range out {
		order := fmt.Sprintf("order-%d", i)
		switch {
		case i%11 == 0:
			if !errors.Is(o.err, context.Canceled) && o.err != nil {
				t.Errorf("%s: cancelled caller got %v", order, o.err)
			}
			want[order] = o.err == nil && !o.panicked && i%5 != 3 && i%3 != 1 && i%7 != 2
		case i%5 == 3:
			if !errors.Is(o.err, storage.ErrForeignKey) {
				t.Errorf("%s: got %v, want its own foreign key error", order, o.err)
			}
		case i%3 == 1:
			if !errors.Is(o.err, errFail) {
				t.Errorf("%s: got %v, want its own error", order, o.err)
			}
		case i%7 == 2:
			if !o.panicked {
				t.Errorf("%s: the callback's panic did not reach its caller", order)
			}
		default:
			if o.err != nil || o.panicked {
				t.Errorf("%s: got %v (panicked %v), want success", order, o.err, o.panicked)
			}
			want[order] = true
		}
	}
	for i := range n {
		order := fmt.Sprintf("order-%d", i)
		_, err := db.GetInvoiceByOrderID(ctx, st.ID, order)
		stored := err == nil
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
		if stored != want[order] {
			t.Errorf("%s: stored = %v, want %v", order, stored, want[order])
		}
	}
}
