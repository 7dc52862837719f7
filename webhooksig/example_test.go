package webhooksig_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay/webhooksig"
)

// A merchant's webhook receiver: verify first, then decode, then act once
// per event id. Here the gateway's side is simulated with SignHeader and the
// request is served in-process; in production the handler is mounted on the
// merchant's HTTPS server and the secret comes from the environment.
func Example() {
	secret := "whsec_4pR3xQm8Vb2kLs9Tz6Nw1Hc5Yd7Gf0Ju3Ea8Ko2Pi4"

	handler := func(w http.ResponseWriter, r *http.Request) {
		body, err := webhooksig.ReadAndVerify(r, secret, 64<<10)
		switch {
		case errors.Is(err, webhooksig.ErrTooOld), errors.Is(err, webhooksig.ErrTooNew):
			// Authentic but outside the window: a replay or a wrong clock.
			http.Error(w, "stale signature", http.StatusBadRequest)
			return
		case err != nil:
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var event struct {
			Type string `json:"type"`
			Data struct {
				OrderID  string `json:"order_id"`
				Amount   string `json:"amount"`
				Currency string `json:"currency"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &event); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		// A real receiver now skips r.Header.Get(webhooksig.HeaderEventID)
		// if already processed, and compares amount and currency with its
		// own order before fulfilling it.
		fmt.Printf("%s %s %s %s\n", event.Type, event.Data.OrderID, event.Data.Amount, event.Data.Currency)
		w.WriteHeader(http.StatusNoContent)
	}

	// send signs signed at signedAt, as the gateway would, then delivers
	// body, which differs from signed when someone changed it on the way.
	send := func(signed, body string, signedAt time.Time) int {
		r := httptest.NewRequest(http.MethodPost, "/webhooks/cryptopay", strings.NewReader(body))
		r.Header.Set(webhooksig.HeaderSignature, webhooksig.SignHeader([]byte(signed), signedAt, secret))
		r.Header.Set(webhooksig.HeaderEventID, "evt_01")
		w := httptest.NewRecorder()
		handler(w, r)
		return w.Code
	}

	body := `{"type":"invoice.settled","data":{"order_id":"A-1","amount":"100.00","currency":"USD"}}`
	fmt.Println(send(body, body, time.Now()))
	fmt.Println(send(body, strings.Replace(body, "100.00", "1.00", 1), time.Now())) // tampered
	fmt.Println(send(body, body, time.Now().Add(-time.Hour)))                       // replayed
	// Output:
	// invoice.settled A-1 100.00 USD
	// 204
	// 401
	// 400
}

// The gateway's side: a new secret per endpoint, and both signature headers
// on every delivery. During a rotation SignHeader gets the old and the new
// secret, so the receiver verifies with whichever it holds.
func ExampleSignHeader() {
	secret, err := webhooksig.NewSecret()
	if err != nil {
		log.Fatal(err)
	}
	body := []byte(`{"type":"invoice.settled"}`)
	h := http.Header{}
	h.Set(webhooksig.HeaderSignature, webhooksig.SignHeader(body, time.Now(), secret))
	h.Set(webhooksig.HeaderLegacySignature, webhooksig.Sign(body, secret))

	fmt.Println(webhooksig.Verify(body, h.Get(webhooksig.HeaderSignature), secret))
	fmt.Println(webhooksig.VerifyLegacy(body, h.Get(webhooksig.HeaderLegacySignature), secret))
	// Output:
	// <nil>
	// <nil>
}
