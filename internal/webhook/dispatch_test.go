package webhook

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/webhooksig"
)

// claim claims up to n deliveries due at now, claimed until now+lease.
func claimAt(t *testing.T, db storage.DB, now time.Time, n int, skip ...string) []string {
	t.Helper()
	var ids []string
	err := db.InTx(t.Context(), func(tx storage.Tx) error {
		cs, err := tx.ClaimWebhookDeliveries(t.Context(), now, now.Add(time.Minute), n, skip)
		for _, c := range cs {
			if c.Endpoint.ID != c.Delivery.EndpointID || c.Endpoint.URL == "" || c.Endpoint.Secret == "" || len(c.Delivery.Body) == 0 {
				t.Errorf("claimed %s without its endpoint or body: %+v", c.Delivery.ID, c)
			}
			ids = append(ids, c.Delivery.ID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// pendingIDs returns ep's pending deliveries oldest first.
func pendingIDs(t *testing.T, db storage.DB, ep string) []string {
	t.Helper()
	ds, _, err := db.ListWebhookDeliveries(t.Context(), storage.WebhookDeliveryFilter{EndpointID: ep, Page: pageAll})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestClaimDeliveries checks the claim the dispatcher works from, on both
// engines: only due, unclaimed deliveries, earliest first, up to the
// limit; a claim holds until it ends (a crashed process's deliveries come
// back by themselves) or an attempt is recorded; a hand-back makes a
// delivery due at the time given; endpoints at their cap are left out.
func TestClaimDeliveries(t *testing.T) {
	engines(t, func(t *testing.T, db storage.DB) {
		s, err := New(Config{DB: db, Keyring: testKeyring(t), AllowLoopback: true})
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecorder(t, nil)
		st := createStore(t, db, false)
		o := Owner{StoreID: st.ID}
		ep, _, err := s.CreateEndpoint(t.Context(), o, EndpointParams{URL: ptr(rec.srv.URL)})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			writeEvent(t, db, st, cryptopay.EventInvoiceCreated, `{}`)
		}
		all := pendingIDs(t, db, ep.ID) // ids are time-ordered: creation order
		if len(all) != 3 {
			t.Fatalf("%d deliveries, want 3", len(all))
		}
		now := time.Now().Add(time.Second)

		if got := claimAt(t, db, now.Add(-time.Hour), 10); len(got) != 0 {
			t.Errorf("claim before anything is due took %v", got)
		}
		if got := claimAt(t, db, now, 10, ep.ID); len(got) != 0 {
			t.Errorf("claim skipping the only endpoint took %v", got)
		}
		if got := claimAt(t, db, now, 2); !slices.Equal(got, all[:2]) {
			t.Errorf("first claim = %v, want the two earliest %v", got, all[:2])
		}
		if got := claimAt(t, db, now, 10); !slices.Equal(got, all[2:]) {
			t.Errorf("second claim = %v, want only the unclaimed %v", got, all[2:])
		}
		if got := claimAt(t, db, now.Add(30*time.Second), 10); len(got) != 0 {
			t.Errorf("claim while every claim holds took %v", got)
		}

		// The first is attempted and succeeds: never claimed again. The
		// second is handed back due in 10 s.
		a := cryptopay.WebhookAttempt{DeliveryID: all[0], Number: 1, StartedAt: now, StatusCode: 200}
		if err := db.InTx(t.Context(), func(tx storage.Tx) error {
			if err := tx.RecordWebhookAttempt(t.Context(), &a, cryptopay.DeliverySucceeded, nil); err != nil {
				return err
			}
			// A hand-back naming another claim than the one held changes
			// nothing; naming the one held, it makes the delivery due then.
			if err := tx.ReleaseWebhookDelivery(t.Context(), all[1], now.Add(time.Second), now); err != nil {
				return err
			}
			return tx.ReleaseWebhookDelivery(t.Context(), all[1], now.Add(time.Minute), now.Add(10*time.Second))
		}); err != nil {
			t.Fatal(err)
		}
		if got := claimAt(t, db, now.Add(5*time.Second), 10); len(got) != 0 {
			t.Errorf("claim before the hand-back is due took %v (a hand-back of another claim must change nothing)", got)
		}
		if got := claimAt(t, db, now.Add(10*time.Second), 10); !slices.Equal(got, all[1:2]) {
			t.Errorf("claim after the hand-back = %v, want %v", got, all[1:2])
		}
		// The third's claim ends unrecorded, as when its process is killed.
		if got := claimAt(t, db, now.Add(time.Minute), 10); !slices.Equal(got, all[2:]) {
			t.Errorf("claim after the first claim ended = %v, want %v", got, all[2:])
		}
	})
}

// TestConcurrentClaimersShareNothing: two claimers at once (two instances
// of the gateway on one database) never take the same delivery, and
// between them take every one.
func TestConcurrentClaimersShareNothing(t *testing.T) {
	engines(t, func(t *testing.T, db storage.DB) {
		s, err := New(Config{DB: db, Keyring: testKeyring(t), AllowLoopback: true})
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecorder(t, nil)
		st := createStore(t, db, false)
		if _, _, err := s.CreateEndpoint(t.Context(), Owner{StoreID: st.ID}, EndpointParams{URL: ptr(rec.srv.URL)}); err != nil {
			t.Fatal(err)
		}
		const n = 120
		for range n {
			writeEvent(t, db, st, cryptopay.EventInvoiceCreated, `{}`)
		}
		now := time.Now().Add(time.Second)
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					got := claimAt(t, db, now, 7)
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, id := range got {
						seen[id]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Errorf("%d deliveries claimed, want %d", len(seen), n)
		}
		for id, k := range seen {
			if k > 1 {
				t.Errorf("delivery %s claimed %d times", id, k)
			}
		}
	})
}

// TestRecordAttemptsBatch: attempts recorded together move each delivery
// as one by one would; one attempt number already recorded fails the
// batch with a conflict and records nothing of it.
func TestRecordAttemptsBatch(t *testing.T) {
	engines(t, func(t *testing.T, db storage.DB) {
		s, err := New(Config{DB: db, Keyring: testKeyring(t), AllowLoopback: true})
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecorder(t, nil)
		st := createStore(t, db, false)
		ep, _, err := s.CreateEndpoint(t.Context(), Owner{StoreID: st.ID}, EndpointParams{URL: ptr(rec.srv.URL)})
		if err != nil {
			t.Fatal(err)
		}
		const n = 75 // chunks of 64, 8, 2 and 1
		for range n {
			writeEvent(t, db, st, cryptopay.EventInvoiceCreated, `{}`)
		}
		ids := pendingIDs(t, db, ep.ID)
		now := time.Now().UTC().Truncate(time.Microsecond)
		next := now.Add(time.Hour)
		var rs []storage.WebhookAttemptRecord
		for i, id := range ids {
			r := storage.WebhookAttemptRecord{Attempt: &cryptopay.WebhookAttempt{DeliveryID: id, Number: 1, StartedAt: now,
				Duration: time.Millisecond, StatusCode: 200, ResponseBody: "ok"}, Status: cryptopay.DeliverySucceeded}
			if i%2 == 1 {
				r.Attempt.StatusCode, r.Attempt.Error, r.Status, r.Next = 503, "", cryptopay.DeliveryPending, &next
			}
			rs = append(rs, r)
		}
		if err := db.InTx(t.Context(), func(tx storage.Tx) error { return tx.RecordWebhookAttempts(t.Context(), rs) }); err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			d, err := db.GetWebhookDelivery(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			want, wantNext := cryptopay.DeliverySucceeded, (*time.Time)(nil)
			if i%2 == 1 {
				want, wantNext = cryptopay.DeliveryPending, &next
			}
			if d.Status != want || d.Attempts != 1 || len(d.Attempt) != 1 || d.Attempt[0].StatusCode != rs[i].Attempt.StatusCode ||
				(wantNext == nil) != (d.NextAttemptAt == nil) || (wantNext != nil && !d.NextAttemptAt.Equal(*wantNext)) {
				t.Fatalf("delivery %d after the batch: status %s, attempts %d, next %v, log %+v", i, d.Status, d.Attempts, d.NextAttemptAt, d.Attempt)
			}
		}
		// Attempt 2 of the first retrying delivery, and attempt 1 again of
		// another: the batch conflicts and records neither.
		again := []storage.WebhookAttemptRecord{
			{Attempt: &cryptopay.WebhookAttempt{DeliveryID: ids[1], Number: 2, StartedAt: now, StatusCode: 200}, Status: cryptopay.DeliverySucceeded},
			{Attempt: &cryptopay.WebhookAttempt{DeliveryID: ids[3], Number: 1, StartedAt: now, StatusCode: 200}, Status: cryptopay.DeliverySucceeded},
		}
		err = db.InTx(t.Context(), func(tx storage.Tx) error { return tx.RecordWebhookAttempts(t.Context(), again) })
		if _, ok := errors.AsType[*storage.ConflictError](err); !ok {
			t.Fatalf("batch with an attempt already recorded: %v, want a conflict", err)
		}
		if d, err := db.GetWebhookDelivery(t.Context(), ids[1]); err != nil || d.Status != cryptopay.DeliveryPending || d.Attempts != 1 {
			t.Errorf("the conflicting batch changed delivery %s: %+v, %v", ids[1], d, err)
		}
	})
}

// TestTwoServicesDeliverEachEventOnce: two delivering services on one
// database (two gateway instances) share the work: every event reaches
// the receiver, and none twice.
func TestTwoServicesDeliverEachEventOnce(t *testing.T) {
	engines(t, func(t *testing.T, db storage.DB) {
		rec := newRecorder(t, nil)
		s := newService(t, db, func(c *Config) { c.Workers = 4 })
		newService(t, db, func(c *Config) { c.Workers = 4 })
		st := createStore(t, db, false)
		if _, _, err := s.CreateEndpoint(t.Context(), Owner{StoreID: st.ID}, EndpointParams{URL: ptr(rec.srv.URL)}); err != nil {
			t.Fatal(err)
		}
		const n = 60
		for range n {
			writeEvent(t, db, st, cryptopay.EventInvoiceCreated, `{}`)
		}
		eventually(t, 30*time.Second, "every event delivered", func() bool { return len(rec.all()) >= n })
		time.Sleep(300 * time.Millisecond) // a second delivery would show by now
		seen := map[string]int{}
		for _, r := range rec.all() {
			seen[r.Header.Get(webhooksig.HeaderEventID)]++
		}
		if len(seen) != n {
			t.Errorf("%d distinct events delivered, want %d", len(seen), n)
		}
		for id, k := range seen {
			if k != 1 {
				t.Errorf("event %s delivered %d times", id, k)
			}
		}
	})
}

// TestStopHandsBackWhatItClaimed: a service stopped with deliveries
// claimed but not yet sent hands them back, so the next process sends
// them at once rather than after their claims end (a graceful restart
// delays nothing); and what it did send is recorded.
func TestStopHandsBackWhatItClaimed(t *testing.T) {
	engines(t, func(t *testing.T, db storage.DB) {
		rec := newRecorder(t, func(int) int { time.Sleep(100 * time.Millisecond); return 200 })
		s := newStoppedService(t, db, func(c *Config) { c.Workers = 2; c.PerEndpoint = 2 })
		st := createStore(t, db, false)
		ep, _, err := s.CreateEndpoint(t.Context(), Owner{StoreID: st.ID}, EndpointParams{URL: ptr(rec.srv.URL)})
		if err != nil {
			t.Fatal(err)
		}
		const n = 30
		for range n {
			writeEvent(t, db, st, cryptopay.EventInvoiceCreated, `{}`)
		}
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "a delivery", func() bool { return len(rec.all()) >= 1 })
		if err := s.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
		sent := len(rec.all())
		if sent >= n {
			t.Skipf("every delivery was sent before the stop (%d)", sent)
		}
		ds, _, err := db.ListWebhookDeliveries(t.Context(), storage.WebhookDeliveryFilter{EndpointID: ep.ID,
			Status: cryptopay.DeliverySucceeded, Page: pageAll})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != sent {
			t.Errorf("%d requests sent before the stop, %d recorded as succeeded", sent, len(ds))
		}
		if got := claimAt(t, db, time.Now(), 100); len(got) != n-sent {
			t.Errorf("right after the stop %d deliveries can be claimed, want every unsent one (%d)", len(got), n-sent)
		}
	})
}
