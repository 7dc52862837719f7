package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/sqldb"
)

// TestSubscriberChangesReachEveryInstance: the store's webhook subscribers
// an event's outbox rows are made for are cached by the storage layer, yet
// an endpoint created or disabled through one instance counts there for the
// very next event (and inside the transaction that changed it), and on
// another instance within SubscriberCacheTTL (1 s). A change rolled back
// is never seen. The cached endpoints carry no secrets.
func TestSubscriberChangesReachEveryInstance(t *testing.T) {
	// The bound the README promises, plus scheduling slack.
	const bound = time.Second + 300*time.Millisecond
	if sqldb.SubscriberCacheTTL > time.Second {
		t.Fatalf("SubscriberCacheTTL = %v, above the promised 1 s", sqldb.SubscriberCacheTTL)
	}
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			a, b := twoInstances(t, engine)
			st, err := a.CreateStore(operatorCtx(t), StoreParams{Name: "shop",
				Wallets: []WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: regtestVpub(t, 0)}}})
			if err != nil {
				t.Fatal(err)
			}
			subscribers := func(tx storage.Reader) []cryptopay.WebhookEndpoint {
				t.Helper()
				eps, err := tx.ListWebhookSubscribers(ctx, st.ID, false, cryptopay.EventInvoiceCreated)
				if err != nil {
					t.Fatal(err)
				}
				return eps
			}
			// count reads the subscribers as the outbox does: in a write
			// transaction.
			count := func(svc *Service) (n int) {
				t.Helper()
				if err := svc.db.InTx(ctx, func(tx storage.Tx) error { n = len(subscribers(tx)); return nil }); err != nil {
					t.Fatal(err)
				}
				return n
			}
			within := func(svc *Service, want int, start time.Time, bound time.Duration) {
				t.Helper()
				for {
					if got := count(svc); got == want {
						return
					} else if time.Since(start) > bound {
						t.Fatalf("%d subscribers %v after the change, want %d; the bound is %v", got, time.Since(start), want, bound)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			for _, svc := range []*Service{a, b} { // both caches hold "none"
				if n := count(svc); n != 0 {
					t.Fatalf("%d subscribers before any endpoint", n)
				}
			}

			now := time.Now().UTC().Truncate(time.Microsecond)
			ep := &cryptopay.WebhookEndpoint{ID: cryptopay.NewID(cryptopay.PrefixEndpoint, now), StoreID: st.ID,
				URL: "https://shop.example/hooks", Enabled: true, Secret: "sealed-secret", CreatedAt: now, UpdatedAt: now}
			start := time.Now()
			if err := a.db.InTx(ctx, func(tx storage.Tx) error {
				if err := tx.CreateWebhookEndpoint(ctx, ep); err != nil {
					return err
				}
				if n := len(subscribers(tx)); n != 1 { // its own write, in its transaction
					t.Errorf("the creating transaction sees %d subscribers, want 1", n)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			within(a, 1, start, 0)
			within(b, 1, start, bound)
			if err := a.db.InTx(ctx, func(tx storage.Tx) error {
				for _, e := range subscribers(tx) {
					if e.Secret != "" || e.PreviousSecret != "" {
						t.Errorf("a subscriber carries its secret: %+v", e)
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}

			// Disabled, then rolled back: nobody ever sees it disabled.
			errUndo := errors.New("undo")
			off := *ep
			off.Enabled = false
			if err := a.db.InTx(ctx, func(tx storage.Tx) error {
				if err := tx.UpdateWebhookEndpoint(ctx, &off); err != nil {
					return err
				}
				if n := len(subscribers(tx)); n != 0 {
					t.Errorf("the disabling transaction sees %d subscribers, want 0", n)
				}
				return errUndo
			}); !errors.Is(err, errUndo) {
				t.Fatal(err)
			}
			if n := count(a); n != 1 {
				t.Fatalf("%d subscribers after a rolled-back disable, want 1", n)
			}

			start = time.Now()
			if err := a.db.InTx(ctx, func(tx storage.Tx) error { return tx.UpdateWebhookEndpoint(ctx, &off) }); err != nil {
				t.Fatal(err)
			}
			within(a, 0, start, 0)
			within(b, 0, start, bound)
		})
	}
}
