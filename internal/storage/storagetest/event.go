package storagetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// invoiceEvent is an event about inv of type t, at base plus n ms.
func invoiceEvent(inv *cryptopay.Invoice, t cryptopay.EventType, n int) *cryptopay.Event {
	at := base.Add(time.Duration(n) * time.Millisecond)
	return &cryptopay.Event{ID: cryptopay.NewID(cryptopay.PrefixEvent, at), StoreID: inv.StoreID,
		Livemode: inv.Livemode, Type: t, InvoiceID: inv.ID, Data: []byte(`{}`), CreatedAt: at}
}

// sequences lists the sequence numbers of inv's events, oldest first.
func sequences(t *testing.T, db storage.Reader, inv *cryptopay.Invoice) []int64 {
	t.Helper()
	evs, _, err := db.ListEvents(t.Context(), storage.EventFilter{StoreID: inv.StoreID, Livemode: inv.Livemode,
		InvoiceID: inv.ID, Page: storage.Page{Limit: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, e := range slices.Backward(evs) {
		out = append(out, e.Sequence)
	}
	return out
}

// testEventSequence: CreateEvent numbers each invoice's events 1, 2, 3...
// on its own counter, replaces whatever sequence the caller set, gives
// events without an invoice none, reuses no number and leaves no gap when
// a transaction rolls back, and refuses an unknown invoice.
func testEventSequence(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "sequence")
	a, b := newInvoice(st, 1, ""), newInvoice(st, 2, "")
	inTx(t, db, func(tx storage.Tx) error {
		if err := tx.CreateStore(ctx, st); err != nil {
			return err
		}
		for _, inv := range []*cryptopay.Invoice{a, b} {
			if err := tx.CreateInvoice(ctx, inv); err != nil {
				return err
			}
		}
		return nil
	})

	var got []int64 // as CreateEvent set them: a, b, a, none, a
	inTx(t, db, func(tx storage.Tx) error {
		for i, inv := range []*cryptopay.Invoice{a, b, a, nil, a} {
			e := &cryptopay.Event{ID: cryptopay.NewID(cryptopay.PrefixEvent, base), StoreID: st.ID,
				Type: cryptopay.EventTest, CreatedAt: base, Sequence: 99} // 99: the store decides, not the caller
			if inv != nil {
				e = invoiceEvent(inv, cryptopay.EventInvoiceCreated, i)
				e.Sequence = 42
			}
			if err := tx.CreateEvent(ctx, e); err != nil {
				return err
			}
			got = append(got, e.Sequence)
		}
		return nil
	})
	diff(t, "sequences set by CreateEvent (a, b, a, none, a)", []int64{1, 1, 2, 0, 3}, got)

	errRollback := errors.New("rolled back on purpose")
	err := db.InTx(ctx, func(tx storage.Tx) error {
		if err := tx.CreateEvent(ctx, invoiceEvent(a, cryptopay.EventInvoiceExpired, 10)); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("InTx = %v, want the callback's error", err)
	}
	inTx(t, db, func(tx storage.Tx) error {
		return tx.CreateEvent(ctx, invoiceEvent(a, cryptopay.EventInvoiceExpired, 11))
	})

	diff(t, "invoice a's sequences as listed", []int64{1, 2, 3, 4}, sequences(t, db, a))
	diff(t, "invoice b's sequences as listed", []int64{1}, sequences(t, db, b))

	// Created with its events in one transaction (as the gateway creates
	// an invoice with invoice.created): numbered the same way, and the
	// next transaction goes on from there.
	c := newInvoice(st, 3, "")
	var cs []int64
	inTx(t, db, func(tx storage.Tx) error {
		if err := tx.CreateInvoice(ctx, c); err != nil {
			return err
		}
		for i := range 2 {
			e := invoiceEvent(c, cryptopay.EventInvoiceCreated, 20+i)
			if err := tx.CreateEvent(ctx, e); err != nil {
				return err
			}
			cs = append(cs, e.Sequence)
		}
		return nil
	})
	inTx(t, db, func(tx storage.Tx) error {
		e := invoiceEvent(c, cryptopay.EventInvoiceExpired, 22)
		cs = append(cs, 0)
		err := tx.CreateEvent(ctx, e)
		cs[len(cs)-1] = e.Sequence
		return err
	})
	diff(t, "sequences of an invoice created with its events", []int64{1, 2, 3}, cs)
	diff(t, "invoice c's sequences as listed", []int64{1, 2, 3}, sequences(t, db, c))
	all, _, err := db.ListEvents(ctx, storage.EventFilter{StoreID: st.ID, Type: cryptopay.EventTest})
	if err != nil || len(all) != 1 || all[0].Sequence != 0 {
		t.Errorf("event without an invoice = %+v, %v; want one with sequence 0", all, err)
	}

	missing := invoiceEvent(a, cryptopay.EventInvoiceExpired, 12)
	missing.InvoiceID = cryptopay.NewID(cryptopay.PrefixInvoice, base)
	err = db.InTx(ctx, func(tx storage.Tx) error { return tx.CreateEvent(ctx, missing) })
	if !errors.Is(err, storage.ErrForeignKey) {
		t.Errorf("event of an unknown invoice: %v, want ErrForeignKey", err)
	}
}

// testEventSequenceConcurrent: writers racing on one invoice, each writing
// two events per transaction, get every number from 1 to the total exactly
// once, and a transaction's two events get consecutive numbers: the
// counter is held for the whole transaction, never read and reused.
func testEventSequenceConcurrent(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "sequence race")
	inv := newInvoice(st, 1, "")
	inTx(t, db, func(tx storage.Tx) error {
		if err := tx.CreateStore(ctx, st); err != nil {
			return err
		}
		return tx.CreateInvoice(ctx, inv)
	})
	const writers, txs = 8, 10
	var (
		mu    sync.Mutex
		pairs [][2]int64
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for w := range writers {
		wg.Go(func() {
			<-start
			for i := range txs {
				var pair [2]int64
				err := db.InTx(ctx, func(tx storage.Tx) error {
					for j := range pair {
						e := invoiceEvent(inv, cryptopay.EventInvoiceConfirmationsChanged, w*100+i*2+j)
						if err := tx.CreateEvent(ctx, e); err != nil {
							return err
						}
						pair[j] = e.Sequence
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				pairs = append(pairs, pair)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, p := range pairs {
		if p[1] != p[0]+1 {
			t.Errorf("one transaction's events got %d and %d; want consecutive numbers", p[0], p[1])
		}
	}
	got := sequences(t, db, inv)
	slices.Sort(got)
	want := make([]int64, writers*txs*2)
	for i := range want {
		want[i] = int64(i + 1)
	}
	diff(t, "every number once, no gap", want, got)
}
