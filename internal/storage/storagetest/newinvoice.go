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

// newInvoiceWrite is inv with its invoice.created event and one pending
// delivery per endpoint.
func newInvoiceWrite(inv *cryptopay.Invoice, endpoints ...*cryptopay.WebhookEndpoint) *storage.NewInvoice {
	ev := invoiceEvent(inv, cryptopay.EventInvoiceCreated, 0)
	ev.Data = []byte(`{"id":"` + inv.ID + `"}`)
	n := &storage.NewInvoice{Invoice: inv, Event: ev}
	for _, ep := range endpoints {
		at := us(inv.CreatedAt)
		n.Deliveries = append(n.Deliveries, &cryptopay.WebhookDelivery{
			ID: cryptopay.NewID(cryptopay.PrefixDelivery, at), EndpointID: ep.ID, StoreID: ep.StoreID,
			Livemode: ep.Livemode, EventID: ev.ID, EventType: ev.Type, Status: cryptopay.DeliveryPending,
			Body: []byte(`{"event":"` + ev.ID + `"}`), CreatedAt: at, UpdatedAt: at, NextAttemptAt: &at})
	}
	return n
}

// wantWritten checks that n is stored whole: the invoice as given, its
// event numbered 1 with its data byte for byte, and its deliveries.
func wantWritten(t *testing.T, db storage.DB, n *storage.NewInvoice) {
	t.Helper()
	ctx := t.Context()
	got, err := db.GetInvoice(ctx, n.Invoice.ID)
	if err != nil {
		t.Fatalf("invoice %s: %v", n.Invoice.ID, err)
	}
	diff(t, "invoice "+n.Invoice.ID, wantInvoice(n.Invoice), got)
	ev, err := db.GetEvent(ctx, n.Event.ID)
	if err != nil {
		t.Fatalf("event of %s: %v", n.Invoice.ID, err)
	}
	if ev.Sequence != 1 || string(ev.Data) != string(n.Event.Data) || ev.InvoiceID != n.Invoice.ID || ev.Type != cryptopay.EventInvoiceCreated {
		t.Errorf("event of %s read back as %+v", n.Invoice.ID, ev)
	}
	for _, d := range n.Deliveries {
		got, err := db.GetWebhookDelivery(ctx, d.ID)
		if err != nil {
			t.Fatalf("delivery %s: %v", d.ID, err)
		}
		if got.EventID != n.Event.ID || string(got.Body) != string(d.Body) || got.Status != cryptopay.DeliveryPending || got.NextAttemptAt == nil {
			t.Errorf("delivery %s read back as %+v", d.ID, got)
		}
	}
}

// wantNothingWritten checks that none of n's rows exist.
func wantNothingWritten(t *testing.T, db storage.DB, n *storage.NewInvoice) {
	t.Helper()
	ctx := t.Context()
	if _, err := db.GetEvent(ctx, n.Event.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("event of a new invoice that was not inserted: %v", err)
	}
	for _, d := range n.Deliveries {
		if _, err := db.GetWebhookDelivery(ctx, d.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("delivery of a new invoice that was not inserted: %v", err)
		}
	}
}

// batchObserver is an engine that tells the size of its batches.
type batchObserver interface {
	ObserveBatches(f func(size int, priority bool))
}

// testNewInvoices: CreateNewInvoice writes an invoice, its first event and
// its deliveries together, alone or batched with concurrent callers; an
// invoice that meets a unique key or an open incident action it is
// conditional on is left out alone (ErrNotInserted, nothing of it
// written) while the others of its batch are written; and the invoice's
// next event is number 2.
func testNewInvoices(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "newinv")
	st.Livemode = true
	ep := &cryptopay.WebhookEndpoint{ID: cryptopay.NewID(cryptopay.PrefixEndpoint, base), StoreID: st.ID, Livemode: true,
		URL: "https://shop.example/hooks", Enabled: true, Secret: "plain:c2VjcmV0", CreatedAt: base, UpdatedAt: base}
	inTx(t, db, func(tx storage.Tx) error {
		if err := tx.CreateStore(ctx, st); err != nil {
			return err
		}
		return tx.CreateWebhookEndpoint(ctx, ep)
	})

	t.Run("alone", func(t *testing.T) {
		announced, err := db.ListenInvoices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		inv := newInvoice(st, 1, "alone-1")
		inv.CustomerReference, inv.Metadata = "cust-1", map[string]string{"sku": "A-1"}
		n := newInvoiceWrite(inv, ep)
		if err := db.CreateNewInvoice(ctx, n); err != nil {
			t.Fatal(err)
		}
		wantWritten(t, db, n)
		if announced != nil { // engines with notifications (PostgreSQL)
			select {
			case got := <-announced:
				want := storage.WatchedAddress{InvoiceID: inv.ID, Network: inv.Network, Address: inv.Address, MonitorUntil: us(inv.MonitorUntil)}
				diff(t, "announced invoice", want, got)
			case <-time.After(5 * time.Second):
				t.Error("no announcement within 5s of the commit")
			}
		}
		next := invoiceEvent(inv, cryptopay.EventInvoiceProcessing, 1)
		inTx(t, db, func(tx storage.Tx) error { return tx.CreateEvent(ctx, next) })
		diff(t, "sequences after a later event", []int64{1, 2}, sequences(t, db, inv))
	})

	t.Run("batched with conflicts", func(t *testing.T) {
		taken := newInvoice(st, 100, "taken-order")
		inTx(t, db, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, taken) })
		const callers = 40
		var (
			writes = make([]*storage.NewInvoice, callers)
			errs   = make([]error, callers)
			wg     sync.WaitGroup
			mu     sync.Mutex
			most   int // the largest batch written
		)
		if o, ok := db.(batchObserver); ok {
			o.ObserveBatches(func(size int, _ bool) {
				mu.Lock()
				most = max(most, size)
				mu.Unlock()
			})
			defer func() {
				o.ObserveBatches(func(int, bool) {})
				mu.Lock()
				defer mu.Unlock()
				if most < 2 {
					t.Errorf("%d concurrent new invoices were written one per batch; want them batched", callers)
				}
			}()
		}
		for i := range callers {
			inv := newInvoice(st, 101+i, fmt.Sprintf("batch-%d", i))
			switch i % 10 {
			case 3: // the store's order id is taken
				inv.OrderID = taken.OrderID
			case 7: // the address is taken
				inv.Address = taken.Address
			}
			writes[i] = newInvoiceWrite(inv, ep)
		}
		announced, err := db.ListenInvoices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range callers {
			wg.Go(func() { errs[i] = db.CreateNewInvoice(ctx, writes[i]) })
		}
		wg.Wait()
		if announced != nil { // each invoice written is announced, no other
			want := map[string]bool{}
			for i, n := range writes {
				if i%10 != 3 && i%10 != 7 {
					want[n.Invoice.ID] = true
				}
			}
			heard := map[string]bool{}
			timeout := time.After(5 * time.Second)
			for len(heard) < len(want) {
				select {
				case a := <-announced:
					switch {
					case want[a.InvoiceID]:
						heard[a.InvoiceID] = true
					case a.InvoiceID != taken.ID:
						t.Errorf("announced %s, which was not written", a.InvoiceID)
					}
				case <-timeout:
					t.Fatalf("%d of %d written invoices announced within 5s", len(heard), len(want))
				}
			}
		}
		for i, n := range writes {
			switch i % 10 {
			case 3, 7:
				if !errors.Is(errs[i], storage.ErrNotInserted) {
					t.Errorf("caller %d (taken key): %v, want ErrNotInserted", i, errs[i])
				}
				wantNothingWritten(t, db, n)
				if _, err := db.GetInvoice(ctx, n.Invoice.ID); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("caller %d (taken key): invoice %v", i, err)
				}
			default:
				if errs[i] != nil {
					t.Errorf("caller %d: %v", i, errs[i])
					continue
				}
				wantWritten(t, db, n)
			}
		}
		got, err := db.GetInvoice(ctx, taken.ID)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "the invoice holding the keys", wantInvoice(taken), got)
	})

	t.Run("same order id in one batch", func(t *testing.T) {
		const callers = 8
		var (
			errs = make([]error, callers)
			wg   sync.WaitGroup
		)
		for i := range callers {
			n := newInvoiceWrite(newInvoice(st, 200+i, "twice"))
			wg.Go(func() { errs[i] = db.CreateNewInvoice(ctx, n) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, storage.ErrNotInserted):
				t.Errorf("a second invoice for the order id: %v, want ErrNotInserted", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d invoices written for one order id, want 1", ok)
		}
	})

	t.Run("incident", func(t *testing.T) {
		inTx(t, db, func(tx storage.Tx) error {
			return tx.CreateIncidentAction(ctx, &storage.IncidentAction{ID: "inc_newinvoice", Action: "freeze",
				Actor: "operator", Details: map[string]any{}, CreatedAt: base})
		})
		refused := newInvoiceWrite(newInvoice(st, 300, "frozen-1"))
		refused.UnlessIncident = "freeze"
		if err := db.CreateNewInvoice(ctx, refused); !errors.Is(err, storage.ErrNotInserted) {
			t.Errorf("while frozen: %v, want ErrNotInserted", err)
		}
		wantNothingWritten(t, db, refused)
		other := newInvoiceWrite(newInvoice(st, 301, "frozen-2"))
		other.UnlessIncident = "another-action"
		if err := db.CreateNewInvoice(ctx, other); err != nil {
			t.Errorf("conditional on an action not open: %v", err)
		}
		inTx(t, db, func(tx storage.Tx) error {
			_, err := tx.CloseIncidentActions(ctx, base.Add(time.Minute))
			return err
		})
		if err := db.CreateNewInvoice(ctx, refused); err != nil {
			t.Fatalf("after the incident closed: %v", err)
		}
		wantWritten(t, db, refused)
	})

	t.Run("unknown store", func(t *testing.T) {
		ghost := newStore(t, "ghost")
		n := newInvoiceWrite(newInvoice(ghost, 400, ""))
		err := db.CreateNewInvoice(ctx, n)
		if !errors.Is(err, storage.ErrNotInserted) || !errors.Is(err, storage.ErrForeignKey) {
			t.Errorf("invoice of an unknown store: %v, want ErrNotInserted and ErrForeignKey", err)
		}
		wantNothingWritten(t, db, n)
	})

	t.Run("malformed", func(t *testing.T) {
		inv := newInvoice(st, 500, "")
		n := newInvoiceWrite(inv)
		n.Event.InvoiceID = "inv_other"
		if err := db.CreateNewInvoice(ctx, n); err == nil || errors.Is(err, storage.ErrNotInserted) {
			t.Errorf("an event of another invoice: %v, want a refusal", err)
		}
		if _, err := db.GetInvoice(ctx, inv.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("refused new invoice: %v", err)
		}
	})
}
