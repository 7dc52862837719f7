package webhook

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/webhooksig"
)

// TestEndpointFailingForTheWholeWindowIsDisabled: an endpoint none of whose
// attempts succeeds for a whole retry window is disabled, with a reason,
// and a webhook_endpoint.disabled event goes to the store's other
// endpoints; the healthy endpoint stays enabled. The schedule is shrunk to
// a two-second window so the three days run in seconds.
func TestEndpointFailingForTheWholeWindowIsDisabled(t *testing.T) {
	engines(t, func(t *testing.T, db storage.DB) {
		broken := newRecorder(t, func(int) int { return http.StatusInternalServerError })
		healthy := newRecorder(t, nil)
		s := newService(t, db, func(c *Config) {
			c.Schedule = Schedule{Base: 100 * time.Millisecond, Max: 300 * time.Millisecond, Window: 2 * time.Second}
		})
		st := createStore(t, db, false)
		o := Owner{StoreID: st.ID}
		bad, _, err := s.CreateEndpoint(t.Context(), o, EndpointParams{URL: ptr(broken.srv.URL),
			EventTypes: &[]string{string(cryptopay.EventInvoiceCreated)}})
		if err != nil {
			t.Fatal(err)
		}
		good, secret, err := s.CreateEndpoint(t.Context(), o, EndpointParams{URL: ptr(healthy.srv.URL),
			EventTypes: &[]string{string(cryptopay.EventWebhookEndpointDisabled)}})
		if err != nil {
			t.Fatal(err)
		}
		writeEvent(t, db, st, cryptopay.EventInvoiceCreated, `{"invoice_id":"inv_x"}`)

		eventually(t, 30*time.Second, "the disabled event at the healthy endpoint", func() bool { return len(healthy.all()) > 0 })
		got := healthy.all()[0]
		if err := webhooksig.Verify(got.Body, got.Header.Get(webhooksig.HeaderSignature), secret); err != nil {
			t.Errorf("signature: %v", err)
		}
		var body struct {
			Type cryptopay.EventType `json:"type"`
			Data struct {
				EndpointID string `json:"webhook_endpoint_id"`
				URL        string `json:"url"`
				Reason     string `json:"reason"`
			} `json:"data"`
		}
		if err := json.Unmarshal(got.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.Type != cryptopay.EventWebhookEndpointDisabled || body.Data.EndpointID != bad.ID ||
			body.Data.URL != broken.srv.URL || body.Data.Reason == "" {
			t.Errorf("disabled event = %s", got.Body)
		}

		ep, err := s.GetEndpoint(t.Context(), o, bad.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ep.Enabled || ep.DisabledReason != body.Data.Reason {
			t.Errorf("failing endpoint after the window: enabled=%v reason=%q", ep.Enabled, ep.DisabledReason)
		}
		if n := len(broken.all()); n < 3 {
			t.Errorf("only %d attempts before disabling; want retries through the window", n)
		}
		ds, _, err := s.ListDeliveries(t.Context(), o, bad.ID, string(cryptopay.DeliveryFailed), pageAll)
		if err != nil || len(ds) != 1 {
			t.Fatalf("failed deliveries of the broken endpoint: %v, %v", ds, err)
		}
		if g, err := s.GetEndpoint(t.Context(), o, good.ID); err != nil || !g.Enabled {
			t.Errorf("healthy endpoint: %+v, %v", g, err)
		}
		// Nothing more is sent to a disabled endpoint.
		before := len(broken.all())
		writeEvent(t, db, st, cryptopay.EventInvoiceCreated, `{"invoice_id":"inv_y"}`)
		if ds, _, _ := s.ListDeliveries(t.Context(), o, bad.ID, "", pageAll); len(ds) != 1 {
			t.Errorf("an event after disabling made a delivery to the disabled endpoint: %d deliveries", len(ds))
		}
		if n := len(broken.all()); n != before {
			t.Errorf("disabled endpoint got %d more requests", n-before)
		}
	})
}
