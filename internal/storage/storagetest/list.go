package storagetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// pageAll follows StartingAfter cursors to the end, checking has_more on
// every page, and returns the ids in the order listed.
func pageAll[T any](t *testing.T, limit int, id func(T) string, list func(storage.Page) ([]T, bool, error)) []string {
	t.Helper()
	var ids []string
	page := storage.Page{Limit: limit}
	for range 1000 {
		items, more, err := list(page)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if len(items) > limit {
			t.Fatalf("page of %d items, limit %d", len(items), limit)
		}
		if more && len(items) != limit {
			t.Fatalf("has_more with a short page of %d", len(items))
		}
		for _, it := range items {
			ids = append(ids, id(it))
		}
		if !more {
			return ids
		}
		page.StartingAfter = ids[len(ids)-1]
	}
	t.Fatal("pagination did not end")
	return nil
}

func testListInvoices(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "list")
	other := newStore(t, "other")
	statuses := []cryptopay.Status{cryptopay.StatusNew, cryptopay.StatusProcessing, cryptopay.StatusSettled}

	var all, byStatus, live []string // expected ids, oldest first
	inTx(t, db, func(tx storage.Tx) error {
		for _, s := range []*cryptopay.Store{st, other} {
			if err := tx.CreateStore(ctx, s); err != nil {
				return err
			}
		}
		for n := range 28 {
			inv := newInvoice(st, n, fmt.Sprintf("order-%d", n))
			inv.Status = statuses[n%3]
			if n >= 25 { // a few live invoices that test-mode lists must not show
				inv.Livemode = true
				live = append(live, inv.ID)
			} else {
				all = append(all, inv.ID)
				if inv.Status == cryptopay.StatusNew {
					byStatus = append(byStatus, inv.ID)
				}
			}
			if err := tx.CreateInvoice(ctx, inv); err != nil {
				return err
			}
		}
		return tx.CreateInvoice(ctx, newInvoice(other, 100, "order-1"))
	})
	slices.Reverse(all)
	slices.Reverse(byStatus)
	slices.Reverse(live)

	invID := func(inv cryptopay.Invoice) string { return inv.ID }
	list := func(f storage.InvoiceFilter) func(storage.Page) ([]cryptopay.Invoice, bool, error) {
		return func(p storage.Page) ([]cryptopay.Invoice, bool, error) {
			f.Page = p
			return db.ListInvoices(ctx, f)
		}
	}
	tests := []struct {
		name   string
		filter storage.InvoiceFilter
		limit  int
		want   []string
	}{
		{"all test-mode, pages of 10", storage.InvoiceFilter{StoreID: st.ID}, 10, all},
		{"page size equal to total", storage.InvoiceFilter{StoreID: st.ID}, 25, all},
		{"one per page", storage.InvoiceFilter{StoreID: st.ID}, 1, all},
		{"status filter", storage.InvoiceFilter{StoreID: st.ID, Status: cryptopay.StatusNew}, 4, byStatus},
		{"livemode", storage.InvoiceFilter{StoreID: st.ID, Livemode: true}, 2, live},
		{"order id", storage.InvoiceFilter{StoreID: st.ID, OrderID: "order-1"}, 10, all[len(all)-2 : len(all)-1]},
		{"no match", storage.InvoiceFilter{StoreID: st.ID, Status: cryptopay.StatusInvalid}, 10, nil},
		{"unknown store", storage.InvoiceFilter{StoreID: "sto_missing"}, 10, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := pageAll(t, tc.limit, invID, list(tc.filter))
			diff(t, "ids newest first", tc.want, got)
		})
	}

	t.Run("default limit", func(t *testing.T) {
		got, more, err := db.ListInvoices(ctx, storage.InvoiceFilter{StoreID: st.ID})
		if err != nil || more || len(got) != len(all) {
			t.Fatalf("Limit 0 = %d items, more %v, %v; want all %d", len(got), more, err, len(all))
		}
		if got[0].Metadata != nil || got[0].Payments != nil || got[0].Amount == nil {
			t.Errorf("listed invoice not fully read: %+v", got[0])
		}
	})
}

func testEvents(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "events")
	inv := newInvoice(st, 0, "")
	// Data is kept byte for byte: webhook signatures cover these bytes.
	data := json.RawMessage("{\"b\": 1,  \"a\":[ \"x\" ]}\n")

	var all, forInvoice, settled []cryptopay.Event // oldest first
	inTx(t, db, func(tx storage.Tx) error {
		if err := tx.CreateStore(ctx, st); err != nil {
			return err
		}
		if err := tx.CreateInvoice(ctx, inv); err != nil {
			return err
		}
		for n := range 12 {
			at := base.Add(time.Duration(n) * time.Millisecond)
			e := cryptopay.Event{
				ID: cryptopay.NewID(cryptopay.PrefixEvent, at), StoreID: st.ID,
				Type: cryptopay.EventInvoiceCreated, Data: data, CreatedAt: at,
			}
			switch n % 3 {
			case 0:
				e.InvoiceID = inv.ID
			case 1:
				e.InvoiceID, e.Type = inv.ID, cryptopay.EventInvoiceSettled
			case 2:
				e.Type, e.Data = cryptopay.EventTest, nil // no invoice, no data
			}
			if err := tx.CreateEvent(ctx, &e); err != nil {
				return err
			}
			e.CreatedAt = us(at)
			all = append(all, e)
			if e.InvoiceID != "" {
				forInvoice = append(forInvoice, e)
			}
			if e.Type == cryptopay.EventInvoiceSettled {
				settled = append(settled, e)
			}
		}
		return nil
	})
	for _, s := range [][]cryptopay.Event{all, forInvoice, settled} {
		slices.Reverse(s)
	}

	tests := []struct {
		name   string
		filter storage.EventFilter
		limit  int
		want   []cryptopay.Event
	}{
		{"all, pages of 5", storage.EventFilter{StoreID: st.ID}, 5, all},
		{"by invoice", storage.EventFilter{StoreID: st.ID, InvoiceID: inv.ID}, 3, forInvoice},
		{"by type", storage.EventFilter{StoreID: st.ID, Type: cryptopay.EventInvoiceSettled}, 2, settled},
		{"livemode sees none", storage.EventFilter{StoreID: st.ID, Livemode: true}, 5, nil},
		{"unknown store", storage.EventFilter{StoreID: "sto_missing"}, 5, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []cryptopay.Event
			pageAll(t, tc.limit, func(e cryptopay.Event) string { return e.ID },
				func(p storage.Page) ([]cryptopay.Event, bool, error) {
					f := tc.filter
					f.Page = p
					evs, more, err := db.ListEvents(ctx, f)
					got = append(got, evs...)
					return evs, more, err
				})
			diff(t, "events newest first", tc.want, got)
		})
	}
}
