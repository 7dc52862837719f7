package httpapi

import (
	"encoding/json"
	"testing"
)

// TestAmountEchoedExactlyAsSent follows the security guide's
// validatePayment, which compares amount !== expectedOrder.amount: the
// price a shop sent comes back as the same string in the create response,
// a read, a list, GET /v1/events and the webhook delivery itself, with the
// normalised form beside it.
func TestAmountEchoedExactlyAsSent(t *testing.T) {
	forEachEngineWith(t, true, func(t *testing.T, e *env) {
		rec := newReceiver(t)
		var ep wireEndpoint
		e.call(e.secret, "POST", "/v1/webhook_endpoints", `{"url":"`+rec.srv.URL+`","enabled_events":["invoice.created"]}`, 201, &ep)
		cases := []struct {
			name, order, amount, currency, normalized string
		}{
			{"BTC with fewer decimals than the asset", "echo-1", "0.0015", "BTC", "0.00150000"},
			{"BTC with every decimal", "echo-2", "0.00150000", "BTC", "0.00150000"},
			{"a whole fiat price", "echo-3", "100", "USD", "100.00"},
			{"one fiat decimal", "echo-4", "10.5", "USD", "10.50"},
			{"a whole BTC", "echo-5", "1", "BTC", "1.00000000"},
		}
		type priced struct {
			ID               string `json:"id"`
			OrderID          string `json:"order_id"`
			Amount           string `json:"amount"`
			AmountNormalized string `json:"amount_normalized"`
			Currency         string `json:"currency"`
		}
		check := func(where string, got priced, amount, normalized, currency string) {
			t.Helper()
			if got.Amount != amount || got.AmountNormalized != normalized || got.Currency != currency {
				t.Errorf("%s: amount %q, amount_normalized %q, currency %q; want %q, %q, %q",
					where, got.Amount, got.AmountNormalized, got.Currency, amount, normalized, currency)
			}
		}
		ids := map[string]string{}
		for _, tc := range cases {
			var created priced
			e.call(e.secret, "POST", "/v1/invoices",
				`{"order_id":"`+tc.order+`","amount":"`+tc.amount+`","currency":"`+tc.currency+`"}`, 201, &created)
			check(tc.name+": create", created, tc.amount, tc.normalized, tc.currency)
			var read priced
			e.call(e.secret, "GET", "/v1/invoices/"+created.ID, "", 200, &read)
			check(tc.name+": read", read, tc.amount, tc.normalized, tc.currency)
			ids[created.ID] = tc.order
		}
		var list struct{ Data []priced }
		e.call(e.secret, "GET", "/v1/invoices?limit=100", "", 200, &list)
		var events struct {
			Data []struct {
				Type string `json:"type"`
				Data priced `json:"data"`
			}
		}
		e.call(e.secret, "GET", "/v1/events?limit=100&type=invoice.created", "", 200, &events)
		var deliveries wireList[wireDelivery]
		e.call(e.secret, "GET", "/v1/webhook_endpoints/"+ep.ID+"/deliveries?limit=100", "", 200, &deliveries)
		for _, tc := range cases {
			found := 0
			for _, inv := range list.Data {
				if inv.OrderID == tc.order {
					check(tc.name+": list", inv, tc.amount, tc.normalized, tc.currency)
					found++
				}
			}
			for _, ev := range events.Data {
				if ev.Data.OrderID == tc.order {
					check(tc.name+": GET /v1/events", ev.Data, tc.amount, tc.normalized, tc.currency)
					found++
				}
			}
			if found != 2 {
				t.Errorf("%s: in the list and the events %d times, want 2", tc.name, found)
			}
		}
		if len(deliveries.Data) != len(ids) {
			t.Fatalf("%d deliveries, want %d", len(deliveries.Data), len(ids))
		}
		want := map[string]struct{ amount, normalized, currency string }{}
		for _, tc := range cases {
			want[tc.order] = struct{ amount, normalized, currency string }{tc.amount, tc.normalized, tc.currency}
		}
		for _, d := range deliveries.Data {
			_, body := rec.wait(t, d.ID) // the bytes the shop's endpoint received
			var ev struct{ Data priced }
			if err := json.Unmarshal(body, &ev); err != nil {
				t.Fatalf("delivery %s: %v: %s", d.ID, err, body)
			}
			w := want[ev.Data.OrderID]
			check("webhook "+ev.Data.OrderID, ev.Data, w.amount, w.normalized, w.currency)
		}
	})
}
