package webhook

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/webhooksig"
)

// TestDeliverySignedAndRecorded: an event written in a transaction reaches
// a real receiver once, signed both ways, with the headers and body a
// merchant relies on, and the delivery log shows the attempt.
func TestDeliverySignedAndRecorded(t *testing.T) {
	engines(t, func(t *testing.T, db storage.DB) {
		rec := newRecorder(t, nil)
		s := newService(t, db, nil)
		st := createStore(t, db, false)
		o := Owner{StoreID: st.ID}
		ep, secret, err := s.CreateEndpoint(t.Context(), o, EndpointParams{URL: ptr(rec.srv.URL + "/hook")})
		if err != nil {
			t.Fatal(err)
		}
		if ep.Secret == secret {
			t.Fatal("secret stored in the clear")
		}
		data := `{"invoice_id":"inv_x","order_id":"o-1","amount":"100.00","currency":"USD","status":"settled"}`
		ev := writeEvent(t, db, st, cryptopay.EventInvoiceSettled, data)
		eventually(t, 20*time.Second, "a delivery", func() bool { return len(rec.all()) == 1 })
		got := rec.all()[0]
		if err := webhooksig.Verify(got.Body, got.Header.Get(webhooksig.HeaderSignature), secret); err != nil {
			t.Errorf("CryptoPay-Signature: %v", err)
		}
		if err := webhooksig.VerifyLegacy(got.Body, got.Header.Get(webhooksig.HeaderLegacySignature), secret); err != nil {
			t.Errorf("X-CryptoPay-Signature: %v", err)
		}
		for h, want := range map[string]string{
			webhooksig.HeaderEventID: ev.ID, webhooksig.HeaderEventType: "invoice.settled",
			"User-Agent": "CryptoPay-Webhooks/test", "Content-Type": "application/json",
		} {
			if v := got.Header.Get(h); v != want {
				t.Errorf("%s = %q, want %q", h, v, want)
			}
		}
		var body EventBody
		if err := json.Unmarshal(got.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.ID != ev.ID || body.Type != ev.Type || body.APIVersion != cryptopay.APIVersion || string(body.Data) != data {
			t.Errorf("body = %s", got.Body)
		}
		did := got.Header.Get(webhooksig.HeaderDeliveryID)
		var d *cryptopay.WebhookDelivery
		eventually(t, 10*time.Second, "delivery marked succeeded", func() bool {
			d, err = s.GetDelivery(t.Context(), o, did)
			return err == nil && d.Status == cryptopay.DeliverySucceeded
		})
		if string(d.Body) != string(got.Body) || len(d.Attempt) != 1 || d.Attempt[0].StatusCode != 200 ||
			d.Attempt[0].ResponseBody != "ok from receiver" {
			t.Errorf("delivery log = %+v", d)
		}
	})
}

// TestRetriesUntilSuccess: a receiver that fails twice gets the same event
// (same id, same body) a third time, and the log shows all three attempts.
func TestRetriesUntilSuccess(t *testing.T) {
	engines(t, func(t *testing.T, db storage.DB) {
		rec := newRecorder(t, func(n int) int {
			if n <= 2 {
				return http.StatusServiceUnavailable
			}
			return http.StatusNoContent
		})
		var logs syncBuffer
		var results sync.Map // result → count
		s := newService(t, db, func(c *Config) {
			c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
			c.OnAttempt = func(r string) {
				n, _ := results.LoadOrStore(r, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		})
		st := createStore(t, db, false)
		o := Owner{StoreID: st.ID}
		ep, _, err := s.CreateEndpoint(t.Context(), o, EndpointParams{URL: ptr(rec.srv.URL)})
		if err != nil {
			t.Fatal(err)
		}
		ev := writeEvent(t, db, st, cryptopay.EventInvoiceCreated, `{}`)
		eventually(t, 60*time.Second, "three attempts", func() bool { return len(rec.all()) >= 3 })
		// Each failed attempt is logged once at WARN with what an operator
		// needs to find it; the success is not.
		eventually(t, 10*time.Second, "two warnings", func() bool { return strings.Count(logs.String(), "delivery attempt failed") == 2 })
		for line := range strings.Lines(logs.String()) {
			for _, want := range []string{"level=WARN", "endpoint=" + ep.ID, "event=" + ev.ID, "status=503", "next_attempt=20"} {
				if !strings.Contains(line, want) {
					t.Errorf("warning lacks %q: %s", want, line)
				}
			}
		}
		eventually(t, 10*time.Second, "attempt results counted", func() bool {
			r, ok1 := results.Load("retrying")
			ok, ok2 := results.Load("succeeded")
			return ok1 && ok2 && r.(*atomic.Int64).Load() == 2 && ok.(*atomic.Int64).Load() == 1
		})
		reqs := rec.all()
		for i, r := range reqs {
			if r.Header.Get(webhooksig.HeaderEventID) != ev.ID || string(r.Body) != string(reqs[0].Body) {
				t.Errorf("attempt %d: event id %q body %s", i+1, r.Header.Get(webhooksig.HeaderEventID), r.Body)
			}
		}
		did := reqs[0].Header.Get(webhooksig.HeaderDeliveryID)
		eventually(t, 10*time.Second, "delivery succeeded", func() bool {
			d, err := s.GetDelivery(t.Context(), o, did)
			return err == nil && d.Status == cryptopay.DeliverySucceeded && len(d.Attempt) == 3 &&
				d.Attempt[0].StatusCode == 503 && d.Attempt[2].StatusCode == 204
		})
	})
}

// TestSlowEndpointDoesNotBlockOthers: an endpoint that hangs until the
// attempt timeout must not delay another endpoint of the same store.
func TestSlowEndpointDoesNotBlockOthers(t *testing.T) {
	engines(t, func(t *testing.T, db storage.DB) {
		release := make(chan struct{})
		slow := newRecorder(t, func(int) int { <-release; return 200 })
		t.Cleanup(func() { close(release) })
		fast := newRecorder(t, nil)
		s := newService(t, db, func(c *Config) {
			c.Workers = 6
			c.PerEndpoint = 2
			c.AttemptTimeout = 30 * time.Second
			c.RescueAfter = time.Minute
		})
		st := createStore(t, db, false)
		o := Owner{StoreID: st.ID}
		for _, u := range []string{slow.srv.URL, fast.srv.URL} {
			if _, _, err := s.CreateEndpoint(t.Context(), o, EndpointParams{URL: ptr(u)}); err != nil {
				t.Fatal(err)
			}
		}
		const n = 10
		for range n {
			writeEvent(t, db, st, cryptopay.EventInvoiceCreated, `{}`)
		}
		eventually(t, 20*time.Second, "every event at the fast endpoint while the slow one hangs", func() bool {
			return len(fast.all()) >= n
		})
		if got := len(slow.all()); got > 2 {
			t.Errorf("slow endpoint has %d attempts in flight, want at most PerEndpoint=2", got)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for the service's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
