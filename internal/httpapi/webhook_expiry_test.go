package httpapi

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/webhooksig"
)

// TestWebhookEndpointExpiryAndResend: expires_in is validated strictly on
// create and update; a temporary endpoint receives until its expiry, then
// nothing (no delivery is even made), and resending to it is refused until
// an update renews it. POST /v1/events/{id}/resend delivers the same event
// (same id, same body) to every subscribed endpoint or the one named.
func TestWebhookEndpointExpiryAndResend(t *testing.T) {
	forEachEngineWith(t, true, func(t *testing.T, e *env) {
		rec := newReceiver(t)
		path := "/v1/webhook_endpoints"
		url := rec.srv.URL + "/hook"
		for _, body := range []struct{ name, field string }{
			{"a string", `"120"`}, {"too short", `59`}, {"zero", `0`}, {"negative", `-120`}, {"over 90 days", `7776001`},
			{"a fraction", `120.5`}, {"an exponent", `1.2e2`}, {"beyond int64", `9223372036854775808`},
			{"overflowing to a valid duration", `18446744073`}, {"null", `null`},
		} {
			t.Run("create with expires_in "+body.name, func(t *testing.T) {
				r := e.call(e.secret, "POST", path, `{"url":"`+url+`","expires_in":`+body.field+`}`, 400, nil)
				if r.err.Param != "expires_in" {
					t.Errorf("param %q: %s", r.err.Param, r.body)
				}
			})
		}
		var list wireList[wireEndpoint]
		if e.call(e.secret, "GET", path, "", 200, &list); len(list.Data) != 0 {
			t.Fatalf("refused requests created endpoints: %+v", list.Data)
		}

		type expiring struct {
			wireEndpoint
			ExpiresAt *time.Time `json:"expires_at"`
		}
		var temp, perm expiring
		e.call(e.secret, "POST", path, `{"url":"`+url+`","expires_in":120}`, 201, &temp)
		if temp.ExpiresAt == nil || temp.ExpiresAt.Sub(e.clock.now()) > 120*time.Second || temp.ExpiresAt.Sub(e.clock.now()) < 119*time.Second {
			t.Fatalf("expires_at %v, want two minutes after %v", temp.ExpiresAt, e.clock.now())
		}
		e.call(e.secret, "POST", path, `{"url":"`+url+`"}`, 201, &perm)
		if r := e.call(e.secret, "GET", path+"/"+perm.ID, "", 200, nil); strings.Contains(string(r.body), "expires_at") {
			t.Errorf("a permanent endpoint shows an expiry: %s", r.body)
		}
		if r := e.call(e.secret, "PATCH", path+"/"+temp.ID, `{"expires_in":"60"}`, 400, nil); r.err.Param != "expires_in" {
			t.Errorf("patch with a string expires_in: %s", r.body)
		}

		if _, err := e.c.CreateInvoice(context.Background(), usdInvoice("o-exp-1")); err != nil {
			t.Fatal(err)
		}
		var ds wireList[wireDelivery]
		e.call(e.secret, "GET", path+"/"+temp.ID+"/deliveries", "", 200, &ds)
		if len(ds.Data) != 1 {
			t.Fatalf("live temporary endpoint has %d deliveries, want 1", len(ds.Data))
		}
		eventID := ds.Data[0].EventID
		_, first := rec.wait(t, ds.Data[0].ID)

		// Resend, to all and to one; the refusals change nothing.
		var resent wireList[wireDelivery]
		e.call(e.secret, "POST", "/v1/events/"+eventID+"/resend", "", 202, &resent)
		if len(resent.Data) != 2 {
			t.Fatalf("resend to all: %d deliveries, want 2 (both endpoints)", len(resent.Data))
		}
		e.call(e.secret, "POST", "/v1/events/"+eventID+"/resend", `{"webhook_endpoint":"`+temp.ID+`"}`, 202, &resent)
		if len(resent.Data) != 1 || resent.Data[0].EndpointID != temp.ID || resent.Data[0].EventID != eventID {
			t.Fatalf("resend to one: %+v", resent.Data)
		}
		h, again := rec.wait(t, resent.Data[0].ID)
		if string(again) != string(first) || h.Get(webhooksig.HeaderEventID) != eventID {
			t.Errorf("resent body or event id differs:\n%s\n%s", first, again)
		}
		for _, c := range []struct {
			name, path, body string
			status           int
			param            string
		}{
			{"empty endpoint", "/v1/events/" + eventID + "/resend", `{"webhook_endpoint":""}`, 400, "webhook_endpoint"},
			{"unknown field", "/v1/events/" + eventID + "/resend", `{"endpoint":"` + temp.ID + `"}`, 400, "endpoint"},
			{"unknown event", "/v1/events/evt_01m8hqp439xhbjqmcf7n3ptjsm/resend", "", 404, ""},
			{"unknown endpoint", "/v1/events/" + eventID + "/resend", `{"webhook_endpoint":"we_01m8hqp439xhbjqmcf7n3ptjsm"}`, 404, ""},
		} {
			if r := e.call(e.secret, "POST", c.path, c.body, c.status, nil); r.err.Param != c.param {
				t.Errorf("%s: param %q: %s", c.name, r.err.Param, r.body)
			}
		}

		// Past its expiry: no delivery is made, and resend refuses it.
		e.clock.advance(121 * time.Second)
		if _, err := e.c.CreateInvoice(context.Background(), usdInvoice("o-exp-2")); err != nil {
			t.Fatal(err)
		}
		e.call(e.secret, "GET", path+"/"+temp.ID+"/deliveries", "", 200, &ds)
		if len(ds.Data) != 3 { // the first event and its two resends
			t.Errorf("expired endpoint has %d deliveries, want the 3 made before it expired", len(ds.Data))
		}
		var permDs wireList[wireDelivery]
		if e.call(e.secret, "GET", path+"/"+perm.ID+"/deliveries", "", 200, &permDs); len(permDs.Data) != 3 {
			t.Errorf("permanent endpoint has %d deliveries, want 3 (two events, one resend)", len(permDs.Data))
		}
		if r := e.call(e.secret, "POST", "/v1/events/"+eventID+"/resend", `{"webhook_endpoint":"`+temp.ID+`"}`, 409, nil); r.err.Code != "conflict" {
			t.Errorf("resend to the expired endpoint: %s", r.body)
		}
		e.call(e.secret, "POST", "/v1/events/"+eventID+"/resend", "", 202, &resent)
		if len(resent.Data) != 1 || resent.Data[0].EndpointID != perm.ID {
			t.Errorf("resend to all after the expiry: %+v, want only the permanent endpoint", resent.Data)
		}

		// Renewed: it receives again.
		var renewed expiring
		e.call(e.secret, "PATCH", path+"/"+temp.ID, `{"expires_in":60}`, 200, &renewed)
		if renewed.ExpiresAt == nil || !renewed.ExpiresAt.After(e.clock.now()) {
			t.Fatalf("renewed expiry %v, want after %v", renewed.ExpiresAt, e.clock.now())
		}
		e.call(e.secret, "POST", "/v1/events/"+eventID+"/resend", `{"webhook_endpoint":"`+temp.ID+`"}`, 202, &resent)
		rec.wait(t, resent.Data[0].ID)
	})
}
