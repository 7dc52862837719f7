package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// refusal is a request the API must refuse without changing anything.
type refusal struct {
	name         string
	method, path string
	header       map[string]string // raw sends Content-Type: application/json unless this overrides it
	body         string
	status       int
	code, param  string
}

// fixtures are objects a refusal table may aim at: an invoice with a
// customer reference and metadata (so a redaction would show) and a
// webhook endpoint with a delivery.
type fixtures struct{ invoice, endpoint, delivery string }

func (e *env) fixtures(t *testing.T) fixtures {
	t.Helper()
	var f fixtures
	var inv struct{ ID string }
	e.call(e.secret, "POST", "/v1/invoices", validInvoice("fixture", `,"customer_reference":"user_1","metadata":{"cart":"7"}`), 201, &inv)
	rec := newReceiver(t)
	var ep wireEndpoint
	e.call(e.secret, "POST", "/v1/webhook_endpoints", `{"url":"`+rec.srv.URL+`","description":"orders"}`, 201, &ep)
	var d struct{ ID string }
	e.call(e.secret, "POST", "/v1/webhook_endpoints/"+ep.ID+"/test", "", 202, &d)
	rec.wait(t, d.ID)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(string(e.raw("GET", "/v1/webhook_deliveries/"+d.ID, "Bearer "+e.secret, nil, "").body), `"succeeded"`); {
		if time.Now().After(deadline) {
			t.Fatal("the test delivery was never recorded as succeeded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.invoice, f.endpoint, f.delivery = inv.ID, ep.ID, d.ID
	return f
}

// state is everything a refused request could have changed, as the API
// and the database show it: keys (their revocation, rotation and expiry,
// not their last use), endpoints, deliveries, invoices and events.
func (e *env) state(t *testing.T, f fixtures) string {
	t.Helper()
	var b strings.Builder
	keys, err := e.db.ListAPIKeys(context.Background(), e.store.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		fmt.Fprintf(&b, "key %s %s %v %v %s %v\n", k.ID, k.Name, k.RevokedAt, k.ExpiresAt, k.RotatedTo, k.Scopes)
	}
	for _, p := range []string{"/v1/webhook_endpoints", "/v1/webhook_endpoints/" + f.endpoint + "/deliveries",
		"/v1/invoices/" + f.invoice, "/v1/invoices?limit=100", "/v1/events?limit=100"} {
		r := e.raw("GET", p, "Bearer "+e.secret, nil, "")
		var v any // compared decoded, so key order cannot matter
		if err := json.Unmarshal(r.body, &v); err != nil || r.status != 200 {
			t.Fatalf("GET %s: %d %s", p, r.status, r.body)
		}
		fmt.Fprintf(&b, "%s %v\n", p, v)
	}
	return b.String()
}

// refuseAll sends each refusal and checks its status, code and param, the
// error shape, and that nothing changed.
func (e *env) refuseAll(t *testing.T, f fixtures, cases []refusal) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, n := e.state(t, f), e.counts()
			r := e.raw(tc.method, tc.path, "Bearer "+e.secret, tc.header, tc.body)
			if r.status != tc.status || r.err.Code != tc.code || r.err.Param != tc.param {
				t.Errorf("got %d %s param %q (%s), want %d %s param %q",
					r.status, r.err.Code, r.err.Param, r.err.Message, tc.status, tc.code, tc.param)
			}
			if r.err.Message == "" || !strings.HasPrefix(r.err.RequestID, "req_") {
				t.Errorf("not the error shape: %s", r.body)
			}
			if after := e.state(t, f); after != before || e.counts() != n {
				t.Errorf("a refused request changed something:\n%s\n→\n%s", before, after)
			}
		})
	}
}

// TestStrictJSONBodies sends every route that takes a body what a lenient
// JSON parser accepts and a shop's own checks would read differently:
// names in another case, duplicate names (last one winning), unknown
// names, invalid UTF-8, numbers in strings, null, trailing data. Each is a
// 400 naming the field, and nothing is written.
func TestStrictJSONBodies(t *testing.T) {
	forEachEngineWith(t, true, func(t *testing.T, e *env) {
		f := e.fixtures(t)
		key, ep := "/v1/api_keys/"+e.key.ID, "/v1/webhook_endpoints/"+f.endpoint
		btc := func(extra string) string { return `{"order_id":"s1","amount":"0.001","currency":"BTC"` + extra + `}` }
		e.refuseAll(t, f, []refusal{
			// The probe: a proxy checking "amount" sees 0.001, a
			// case-insensitive decoder charges 5.
			{"amount again in another case", "POST", "/v1/invoices", nil, btc(`,"Amount":"5"`), 400, "invalid_request", "Amount"},
			{"amount twice", "POST", "/v1/invoices", nil, btc(`,"amount":"5"`), 400, "invalid_request", "amount"},
			{"amount twice, once escaped", "POST", "/v1/invoices", nil, btc(`,"\u0061mount":"5"`), 400, "invalid_request", "amount"},
			{"order_id in another case", "POST", "/v1/invoices", nil, `{"Order_ID":"s1","amount":"0.001","currency":"BTC"}`, 400, "invalid_request", "Order_ID"},
			{"metadata key twice", "POST", "/v1/invoices", nil, btc(`,"metadata":{"a":"1","a":"2"}`), 400, "invalid_request", "metadata[a]"},
			{"invalid UTF-8 in order_id", "POST", "/v1/invoices", nil, "{\"order_id\":\"s\xff1\",\"amount\":\"0.001\",\"currency\":\"BTC\"}", 400, "invalid_request", "order_id"},
			{"invalid UTF-8 in a metadata value", "POST", "/v1/invoices", nil, btc(",\"metadata\":{\"a\":\"\xc3\"}"), 400, "invalid_request", "metadata[a]"},
			{"expires_in as a string", "POST", "/v1/invoices", nil, btc(`,"expires_in":"600"`), 400, "invalid_request", "expires_in"},
			{"expires_in in exponent notation", "POST", "/v1/invoices", nil, btc(`,"expires_in":6e2`), 400, "invalid_request", "expires_in"},
			{"null order_id", "POST", "/v1/invoices", nil, `{"order_id":null,"amount":"0.001","currency":"BTC"}`, 400, "invalid_request", "order_id"},
			{"null body", "POST", "/v1/invoices", nil, `null`, 400, "invalid_request", ""},
			{"trailing array", "POST", "/v1/invoices", nil, btc("") + `[]`, 400, "invalid_request", ""},

			{"key expires_in as a string", "POST", "/v1/api_keys", nil, `{"scopes":["invoices:read"],"expires_in":"7200"}`, 400, "invalid_request", "expires_in"},
			{"key scopes in another case", "POST", "/v1/api_keys", nil, `{"Scopes":["invoices:read"]}`, 400, "invalid_request", "Scopes"},
			{"key scopes twice", "POST", "/v1/api_keys", nil, `{"scopes":["invoices:read"],"scopes":["audit:read"]}`, 400, "invalid_request", "scopes"},
			{"key scope not a string", "POST", "/v1/api_keys", nil, `{"scopes":[true]}`, 400, "invalid_request", "scopes[0]"},
			{"rotate grace_period as a string", "POST", key + "/rotate", nil, `{"grace_period":"10"}`, 400, "invalid_request", "grace_period"},
			{"rotate with an unknown field", "POST", key + "/rotate", nil, `{"grace":10}`, 400, "invalid_request", "grace"},
			{"rotate with an array", "POST", key + "/rotate", nil, `[]`, 400, "invalid_request", ""},
			{"revoke with a field", "POST", key + "/revoke", nil, `{"now":true}`, 400, "invalid_request", "now"},

			{"endpoint url twice", "POST", "/v1/webhook_endpoints", nil, `{"url":"https://a.example/","url":"https://b.example/"}`, 400, "invalid_request", "url"},
			{"endpoint URL in another case", "POST", "/v1/webhook_endpoints", nil, `{"URL":"https://a.example/"}`, 400, "invalid_request", "URL"},
			{"endpoint enabled as a string", "POST", "/v1/webhook_endpoints", nil, `{"url":"https://a.example/","enabled":"true"}`, 400, "invalid_request", "enabled"},
			{"patch enabled as a string", "PATCH", ep, nil, `{"enabled":"false"}`, 400, "invalid_request", "enabled"},
			{"patch description twice", "PATCH", ep, nil, `{"description":"a","description":"b"}`, 400, "invalid_request", "description"},
			{"patch Description", "PATCH", ep, nil, `{"Description":"a"}`, 400, "invalid_request", "Description"},
			{"patch with trailing data", "PATCH", ep, nil, `{"description":"a"}x`, 400, "invalid_request", ""},
			{"rotate_secret with a field", "POST", ep + "/rotate_secret", nil, `{"grace_period":10}`, 400, "invalid_request", "grace_period"},
			{"rotate_secret with a string", "POST", ep + "/rotate_secret", nil, `"now"`, 400, "invalid_request", ""},
			{"test with a field", "POST", ep + "/test", nil, `{"type":"invoice.settled"}`, 400, "invalid_request", "type"},
			{"delete with a field", "DELETE", ep, nil, `{"force":true}`, 400, "invalid_request", "force"},
			{"redeliver with a field", "POST", "/v1/webhook_deliveries/" + f.delivery + "/redeliver", nil, `{"x":1}`, 400, "invalid_request", "x"},
			{"redact with a field", "POST", "/v1/invoices/" + f.invoice + "/redact", nil, `{"fields":["metadata"]}`, 400, "invalid_request", "fields"},
		})
		// The bodies these routes do accept still work.
		e.call(e.secret, "POST", "/v1/webhook_endpoints/"+f.endpoint+"/rotate_secret", `{}`, 200, nil)
		e.call(e.secret, "POST", "/v1/invoices", `{"order_id":"s2","amount":"0.001","currency":"BTC","expires_in":600}`, 201, nil)
	})
}

// TestInputHygiene: amounts have one spelling (no leading zeros), text a
// person reads carries no control or format characters (a right-to-left
// override makes "order 1001" display as something else), a body must be
// declared as JSON, and an empty event list is not "all events".
func TestInputHygiene(t *testing.T) {
	forEachEngineWith(t, true, func(t *testing.T, e *env) {
		f := e.fixtures(t)
		ep, key := "/v1/webhook_endpoints/"+f.endpoint, "/v1/api_keys/"+e.key.ID
		inv := func(order, extra string) string {
			return `{"order_id":"` + order + `","amount":"0.001","currency":"BTC"` + extra + `}`
		}
		noType := map[string]string{"Content-Type": ""}
		e.refuseAll(t, f, []refusal{
			{"amount with a leading zero", "POST", "/v1/invoices", nil, `{"order_id":"h1","amount":"010","currency":"BTC"}`, 400, "invalid_request", "amount"},
			{"amount with two zeros before the point", "POST", "/v1/invoices", nil, `{"order_id":"h1","amount":"00.001","currency":"BTC"}`, 400, "invalid_request", "amount"},
			{"fiat amount with a leading zero", "POST", "/v1/invoices", nil, `{"order_id":"h1","amount":"010.00","currency":"USD"}`, 400, "invalid_request", "amount"},
			{"order_id with a right-to-left override", "POST", "/v1/invoices", nil, inv(`h1\u202e2`, ""), 400, "invalid_request", "order_id"},
			{"order_id with a zero-width space", "POST", "/v1/invoices", nil, inv(`h1\u200b`, ""), 400, "invalid_request", "order_id"},
			{"order_id with a byte order mark", "POST", "/v1/invoices", nil, inv(`\ufeffh1`, ""), 400, "invalid_request", "order_id"},
			{"order_id with a C1 control", "POST", "/v1/invoices", nil, inv(`h1\u0085`, ""), 400, "invalid_request", "order_id"},
			{"customer_reference with an isolate", "POST", "/v1/invoices", nil, inv("h1", `,"customer_reference":"user_\u20661"`), 400, "invalid_request", "customer_reference"},
			{"metadata value with an override", "POST", "/v1/invoices", nil, inv("h1", `,"metadata":{"note":"\u202egift"}`), 400, "invalid_request", "metadata[note]"},
			{"metadata key with a zero-width joiner", "POST", "/v1/invoices", nil, inv("h1", `,"metadata":{"no\u200dte":"x"}`), 400, "invalid_request", "metadata[no\u200dte]"},
			{"metadata key with NUL", "POST", "/v1/invoices", nil, inv("h1", `,"metadata":{"a\u0000":"x"}`), 400, "invalid_request", "metadata[a\x00]"},
			{"key name with NUL", "POST", "/v1/api_keys", nil, `{"name":"shop\u0000admin","scopes":["invoices:read"]}`, 400, "invalid_request", "name"},
			{"key name with an override", "POST", "/v1/api_keys", nil, `{"name":"shop\u202e","scopes":["invoices:read"]}`, 400, "invalid_request", "name"},
			{"endpoint description with an override", "POST", "/v1/webhook_endpoints", nil, `{"url":"https://a.example/","description":"\u202eorders"}`, 400, "invalid_request", "description"},
			{"patch description with a zero-width space", "PATCH", ep, nil, `{"description":"or\u200bders"}`, 400, "invalid_request", "description"},

			{"patch enabled_events to an empty list", "PATCH", ep, nil, `{"enabled_events":[]}`, 400, "invalid_request", "enabled_events"},
			{"create with an empty enabled_events", "POST", "/v1/webhook_endpoints", nil, `{"url":"https://a.example/","enabled_events":[]}`, 400, "invalid_request", "enabled_events"},

			{"body without a Content-Type", "POST", "/v1/invoices", noType, inv("h1", ""), 415, "unsupported_media_type", "Content-Type"},
			{"body sent as a form", "POST", "/v1/invoices", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, inv("h1", ""), 415, "unsupported_media_type", "Content-Type"},
			{"body sent as text", "POST", "/v1/api_keys", map[string]string{"Content-Type": "text/plain"}, `{"scopes":["invoices:read"]}`, 415, "unsupported_media_type", "Content-Type"},
			{"JSON in another charset", "POST", "/v1/invoices", map[string]string{"Content-Type": "application/json; charset=latin1"}, inv("h1", ""), 415, "unsupported_media_type", "Content-Type"},
			{"a JSON-like type", "POST", "/v1/invoices", map[string]string{"Content-Type": "application/jsonx"}, inv("h1", ""), 415, "unsupported_media_type", "Content-Type"},
			{"patch without a Content-Type", "PATCH", ep, noType, `{"enabled":false}`, 415, "unsupported_media_type", "Content-Type"},
			{"rotate without a Content-Type", "POST", key + "/rotate", noType, `{"grace_period":0}`, 415, "unsupported_media_type", "Content-Type"},
			{"rotate_secret without a Content-Type", "POST", ep + "/rotate_secret", noType, `{}`, 415, "unsupported_media_type", "Content-Type"},
			{"revoke with a form body", "POST", key + "/revoke", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, `now=1`, 415, "unsupported_media_type", "Content-Type"},
		})
		// What is allowed still is.
		for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON;charset=UTF-8"} {
			if r := e.raw("POST", "/v1/invoices", "Bearer "+e.secret, map[string]string{"Content-Type": ct}, inv("ok-"+ct[:6], "")); r.status != 201 {
				t.Errorf("Content-Type %q: %d %s", ct, r.status, r.body)
			}
		}
		e.call(e.secret, "POST", "/v1/invoices", `{"order_id":"h2","amount":"0.001","currency":"BTC","customer_reference":"café 注文","metadata":{"note":"gift 🎁"}}`, 201, nil)
		e.call(e.secret, "PATCH", ep, `{"enabled_events":["*"]}`, 200, nil)
	})
}
