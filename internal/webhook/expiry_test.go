package webhook

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/webhooksig"
)

// expireNow moves the endpoint's expiry into the past, as the passing of
// time does to the endpoint of a listener that crashed and stopped renewing.
func expireNow(t *testing.T, db storage.DB, id string) {
	t.Helper()
	err := db.InTx(t.Context(), func(tx storage.Tx) error {
		ep, err := tx.GetWebhookEndpoint(t.Context(), id)
		if err != nil {
			return err
		}
		past := time.Now().Add(-time.Second).UTC()
		ep.ExpiresAt = &past
		return tx.UpdateWebhookEndpoint(t.Context(), ep)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestExpiredEndpointReceivesNothing: a temporary endpoint receives while
// its expiry lies ahead; once it has passed, no delivery is made for it
// (while a permanent endpoint of the same store still gets every event),
// a delivery that was pending when it expired is never sent, and resend,
// redeliver and test refuse it; renewing it with expires_in makes it
// receive again.
func TestExpiredEndpointReceivesNothing(t *testing.T) {
	engines(t, func(t *testing.T, db storage.DB) {
		temp, perm := newRecorder(t, nil), newRecorder(t, nil)
		st := createStore(t, db, false)
		o := Owner{StoreID: st.ID}
		// Not started yet: the first deliveries wait in the queue.
		cfg := Config{DB: db, Keyring: testKeyring(t), Version: "test", PollInterval: 50 * time.Millisecond, AllowLoopback: true,
			Schedule: Schedule{Base: 200 * time.Millisecond, Max: time.Second, Window: time.Hour}}
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = s.Stop(ctx)
		})
		ttl := 2 * time.Minute
		before := time.Now()
		tep, tsecret, err := s.CreateEndpoint(t.Context(), o, EndpointParams{URL: ptr(temp.srv.URL), ExpiresIn: &ttl})
		if err != nil {
			t.Fatal(err)
		}
		if tep.ExpiresAt == nil || tep.ExpiresAt.Before(before.Add(ttl)) || tep.ExpiresAt.After(time.Now().Add(ttl)) {
			t.Fatalf("expires_at %v, want %v from now", tep.ExpiresAt, ttl)
		}
		if got, err := s.GetEndpoint(t.Context(), o, tep.ID); err != nil || got.ExpiresAt == nil || !got.ExpiresAt.Equal(tep.ExpiresAt.Truncate(time.Microsecond)) {
			t.Fatalf("stored expiry: %+v, %v", got, err)
		}
		pep, _, err := s.CreateEndpoint(t.Context(), o, EndpointParams{URL: ptr(perm.srv.URL)})
		if err != nil {
			t.Fatal(err)
		}

		// 1. Queued while the endpoint was live, expired before it was sent.
		queued := writeEvent(t, db, st, cryptopay.EventInvoiceCreated, `{"invoice_id":"inv_a"}`)
		expireNow(t, db, tep.ID)
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "the pending delivery to the expired endpoint to fail", func() bool {
			ds, _, err := s.ListDeliveries(t.Context(), o, tep.ID, string(cryptopay.DeliveryFailed), pageAll)
			return err == nil && len(ds) == 1
		})
		ds, _, _ := s.ListDeliveries(t.Context(), o, tep.ID, "", pageAll)
		d, err := s.GetDelivery(t.Context(), o, ds[0].ID)
		if err != nil || len(d.Attempt) != 1 || d.Attempt[0].Error != "endpoint expired; not sent" || d.Attempt[0].StatusCode != 0 {
			t.Fatalf("the expired endpoint's delivery: %+v, %v", d, err)
		}

		// 2. Made after it expired: no delivery at all.
		writeEvent(t, db, st, cryptopay.EventInvoiceSettled, `{"invoice_id":"inv_b"}`)
		eventually(t, 20*time.Second, "both events at the permanent endpoint", func() bool { return len(perm.all()) == 2 })
		if ds, _, _ := s.ListDeliveries(t.Context(), o, tep.ID, "", pageAll); len(ds) != 1 {
			t.Errorf("the expired endpoint has %d deliveries, want only the one made before it expired", len(ds))
		}
		if n := len(temp.all()); n != 0 {
			t.Errorf("the expired endpoint received %d requests", n)
		}

		// 3. Nothing can be sent to it by hand either.
		for name, try := range map[string]func() error{
			"resend to it": func() error { _, err := s.ResendEvent(t.Context(), o, queued.ID, tep.ID); return err },
			"redeliver":    func() error { _, err := s.Redeliver(t.Context(), o, ds[0].ID); return err },
			"send a test":  func() error { _, err := s.SendTest(t.Context(), o, tep.ID); return err },
		} {
			var ce *cryptopay.Error
			if err := try(); !errors.As(err, &ce) || ce.Code != cryptopay.CodeConflict {
				t.Errorf("%s: %v, want a conflict", name, err)
			}
		}
		all, err := s.ResendEvent(t.Context(), o, queued.ID, "")
		if err != nil || len(all) != 1 || all[0].EndpointID != pep.ID {
			t.Errorf("resend to every subscriber: %v, %v; want one delivery, to the permanent endpoint", all, err)
		}
		eventually(t, 20*time.Second, "the resent event at the permanent endpoint", func() bool { return len(perm.all()) == 3 })
		if r := perm.all()[2]; r.Header.Get(webhooksig.HeaderEventID) != queued.ID {
			t.Errorf("resent delivery carries event id %q, want %q", r.Header.Get(webhooksig.HeaderEventID), queued.ID)
		}

		// 4. Renewed: it receives again, signed with the secret it had.
		if _, err := s.UpdateEndpoint(t.Context(), o, tep.ID, EndpointParams{ExpiresIn: &ttl}); err != nil {
			t.Fatal(err)
		}
		writeEvent(t, db, st, cryptopay.EventInvoiceExpired, `{"invoice_id":"inv_c"}`)
		eventually(t, 20*time.Second, "the event at the renewed endpoint", func() bool { return len(temp.all()) == 1 })
		got := temp.all()[0]
		if err := webhooksig.Verify(got.Body, got.Header.Get(webhooksig.HeaderSignature), tsecret); err != nil {
			t.Errorf("renewed endpoint's delivery: %v", err)
		}
	})
}

// TestEndpointExpiresInValidation: expires_in is a whole number of seconds
// from a minute to 90 days; anything else is refused naming the field and
// creates nothing.
func TestEndpointExpiresInValidation(t *testing.T) {
	db := openSQLite(t)
	s := newService(t, db, nil)
	st := createStore(t, db, false)
	o := Owner{StoreID: st.ID}
	cases := []struct {
		name string
		d    time.Duration
		ok   bool
	}{
		{"one minute", time.Minute, true},
		{"ninety days", 90 * 24 * time.Hour, true},
		{"a second short of a minute", 59 * time.Second, false},
		{"zero", 0, false},
		{"negative", -time.Minute, false},
		{"a second past ninety days", 90*24*time.Hour + time.Second, false},
		{"not whole seconds", time.Minute + time.Millisecond, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.CreateEndpoint(t.Context(), o, EndpointParams{URL: ptr("http://127.0.0.1:9/hook"), ExpiresIn: &tc.d})
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ce *cryptopay.Error
			if !errors.As(err, &ce) || ce.Param != "expires_in" {
				t.Fatalf("err = %v, want a refusal naming expires_in", err)
			}
		})
	}
	eps, _, err := s.ListEndpoints(t.Context(), o, pageAll)
	if err != nil || len(eps) != 2 {
		t.Errorf("%d endpoints after the table, want the 2 accepted: %v", len(eps), err)
	}
}
