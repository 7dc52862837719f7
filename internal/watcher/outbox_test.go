package watcher_test

import (
	"go/build"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
	"github.com/cryptopay/cryptopay/internal/watcher"
)

// TestWatcherEventsQueueTheirDeliveries: the events the watcher writes,
// from the chain (a payment seen) and from time (expiry), queue a delivery
// to the store's endpoint in their own transaction, on both engines, with
// no webhook service built in the process.
func TestWatcherEventsQueueTheirDeliveries(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		h := newHarness(t, db, fundBlocks)
		h.step()
		paid := h.invoice("o-paid", "0.001", 0)
		unpaid := h.invoice("o-unpaid", "0.001", 0)
		now := time.Now().UTC().Truncate(time.Microsecond)
		// Written directly: the endpoint is never called, only its queue read.
		ep := &cryptopay.WebhookEndpoint{ID: cryptopay.NewID(cryptopay.PrefixEndpoint, now), StoreID: paid.StoreID,
			Livemode: paid.Livemode, URL: "https://shop.example/hook", Enabled: true, Secret: "sealed elsewhere",
			CreatedAt: now, UpdatedAt: now}
		if err := db.InTx(t.Context(), func(tx storage.Tx) error { return tx.CreateWebhookEndpoint(t.Context(), ep) }); err != nil {
			t.Fatal(err)
		}
		h.pay(paid.Address, milliBTC, false)
		h.step()
		h.clock.advance(time.Hour) // past the unpaid invoice's expiry
		h.step()
		wantEvents(t, h.events(unpaid), created, expired)
		ds, _, err := db.ListWebhookDeliveries(t.Context(), storage.WebhookDeliveryFilter{EndpointID: ep.ID, Page: storage.Page{Limit: 100}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range ds {
			got = append(got, string(d.EventType))
		}
		slices.Sort(got)
		want := []string{string(expired), string(detected), string(process)}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("deliveries queued for the watcher's events: %v, want %v", got, want)
		}
	})
}

// TestNewRefusesAWatcherWithoutAnOutbox: a watcher built without an outbox
// would write payment and invoice events whose deliveries nobody queues;
// it is refused at construction.
func TestNewRefusesAWatcherWithoutAnOutbox(t *testing.T) {
	defer func() {
		r := recover()
		msg, _ := r.(string)
		if !strings.Contains(msg, "Outbox is required") {
			t.Fatalf("New without an outbox: recovered %v; want a panic naming Config.Outbox", r)
		}
	}()
	watcher.New(watcher.Config{DB: testdb.SQLite(t)})
	t.Fatal("New without an outbox returned a watcher")
}

// TestWatcherImportsNoWebhookCode: the watcher is chain-agnostic and
// reaches webhooks only through the Outbox it declares; it imports neither
// the webhook package nor the job queue.
func TestWatcherImportsNoWebhookCode(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if imp == "github.com/cryptopay/cryptopay/internal/webhook" || strings.HasPrefix(imp, "github.com/riverqueue/") ||
			strings.HasPrefix(imp, "github.com/cryptopay/cryptopay/internal/bitcoin") {
			t.Errorf("the watcher imports %s", imp)
		}
	}
}
