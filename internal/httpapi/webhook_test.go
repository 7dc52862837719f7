package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/account"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/webhooksig"
)

// receiver is a merchant's webhook endpoint that records what it gets.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hdrs []http.Header
	body [][]byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.hdrs, r.body = append(r.hdrs, req.Header.Clone()), append(r.body, b)
		r.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait returns the request carrying delivery id, polling until it comes.
func (r *receiver) wait(t *testing.T, deliveryID string) (http.Header, []byte) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for i, h := range r.hdrs {
			if h.Get(webhooksig.HeaderDeliveryID) == deliveryID {
				defer r.mu.Unlock()
				return h, r.body[i]
			}
		}
		r.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("delivery %s never reached the receiver", deliveryID)
	return nil, nil
}

// call sends a request with the bearer secret and decodes a JSON object
// response into out (when non-nil), failing unless the status is want.
func (e *env) call(secret, method, path, body string, want int, out any) rawResponse {
	e.t.Helper()
	r := e.raw(method, path, "Bearer "+secret, map[string]string{"Content-Type": "application/json"}, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, r.body)
		}
	}
	return r
}

type wireEndpoint struct {
	ID                      string     `json:"id"`
	URL                     string     `json:"url"`
	Description             string     `json:"description"`
	EnabledEvents           []string   `json:"enabled_events"`
	Enabled                 bool       `json:"enabled"`
	Secret                  string     `json:"secret"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

type wireDelivery struct {
	ID          string `json:"id"`
	EndpointID  string `json:"webhook_endpoint_id"`
	EventID     string `json:"event_id"`
	EventType   string `json:"event_type"`
	Status      string `json:"status"`
	RequestBody string `json:"request_body"`
	Attempts    []struct {
		Number       int    `json:"number"`
		StatusCode   int    `json:"status_code"`
		ResponseBody string `json:"response_body"`
	} `json:"attempts"`
}

type wireList[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"has_more"`
}

// TestWebhookRoutes drives every webhook route through the real server and
// a real receiver: the secret is shown once, deliveries verify with it, a
// rotation signs with both secrets, the delivery log pages and filters,
// shows attempts and redelivers, test events arrive, and each change is
// audited.
func TestWebhookRoutes(t *testing.T) {
	forEachEngineWith(t, true, func(t *testing.T, e *env) {
		rec := newReceiver(t)
		var ep wireEndpoint
		r := e.call(e.secret, "POST", "/v1/webhook_endpoints",
			`{"url":"`+rec.srv.URL+`/hook","description":"orders","enabled_events":["invoice.created"]}`, 201, &ep)
		if !strings.HasPrefix(ep.Secret, "whsec_") || ep.URL != rec.srv.URL+"/hook" || !ep.Enabled ||
			len(ep.EnabledEvents) != 1 || ep.EnabledEvents[0] != "invoice.created" {
			t.Fatalf("create: %s", r.body)
		}
		secret := ep.Secret
		for _, p := range []string{"/v1/webhook_endpoints/" + ep.ID, "/v1/webhook_endpoints"} {
			if r := e.call(e.secret, "GET", p, "", 200, nil); strings.Contains(string(r.body), "whsec_") ||
				strings.Contains(string(r.body), `"secret"`) || !strings.Contains(string(r.body), ep.ID) {
				t.Errorf("GET %s shows the secret or lacks the endpoint: %s", p, r.body)
			}
		}
		var upd wireEndpoint
		e.call(e.secret, "PATCH", "/v1/webhook_endpoints/"+ep.ID, `{"description":"all","enabled_events":["*"]}`, 200, &upd)
		if upd.Description != "all" || len(upd.EnabledEvents) != 1 || upd.EnabledEvents[0] != "*" || upd.Secret != "" {
			t.Errorf("patch: %+v", upd)
		}

		// An invoice's event is delivered, signed with the secret.
		inv, err := e.c.CreateInvoice(context.Background(), usdInvoice("o-1"))
		if err != nil {
			t.Fatal(err)
		}
		var ds wireList[wireDelivery]
		e.call(e.secret, "GET", "/v1/webhook_endpoints/"+ep.ID+"/deliveries", "", 200, &ds)
		if len(ds.Data) != 1 || ds.Data[0].EventType != "invoice.created" {
			t.Fatalf("deliveries after one invoice: %+v", ds)
		}
		first := ds.Data[0]
		h, body := rec.wait(t, first.ID)
		if err := webhooksig.Verify(body, h.Get(webhooksig.HeaderSignature), secret); err != nil {
			t.Errorf("%s: %v", webhooksig.HeaderSignature, err)
		}
		if !strings.Contains(string(body), inv.ID) || h.Get(webhooksig.HeaderEventID) != first.EventID {
			t.Errorf("delivery body %s, event id header %q", body, h.Get(webhooksig.HeaderEventID))
		}

		// Rotation: the new secret is shown once; deliveries carry two v1
		// signatures, one per secret, and the legacy header uses the new one.
		var rot wireEndpoint
		e.call(e.secret, "POST", "/v1/webhook_endpoints/"+ep.ID+"/rotate_secret", "", 200, &rot)
		if !strings.HasPrefix(rot.Secret, "whsec_") || rot.Secret == secret || rot.PreviousSecretExpiresAt == nil {
			t.Fatalf("rotate_secret: %+v", rot)
		}
		var test wireDelivery
		e.call(e.secret, "POST", "/v1/webhook_endpoints/"+ep.ID+"/test", "", 202, &test)
		if test.EventType != "test" || test.Status != "pending" {
			t.Errorf("test: %+v", test)
		}
		h, body = rec.wait(t, test.ID)
		sig := h.Get(webhooksig.HeaderSignature)
		if n := strings.Count(sig, "v1="); n != 2 {
			t.Errorf("%s during rotation has %d v1 signatures, want 2: %s", webhooksig.HeaderSignature, n, sig)
		}
		for name, s := range map[string]string{"old": secret, "new": rot.Secret} {
			if err := webhooksig.Verify(body, sig, s); err != nil {
				t.Errorf("%s secret does not verify during the overlap: %v", name, err)
			}
		}
		if err := webhooksig.VerifyLegacy(body, h.Get(webhooksig.HeaderLegacySignature), rot.Secret); err != nil {
			t.Errorf("%s with the new secret: %v", webhooksig.HeaderLegacySignature, err)
		}
		var tb struct {
			Type string `json:"type"`
			Data struct {
				EndpointID string `json:"webhook_endpoint_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &tb); err != nil || tb.Type != "test" || tb.Data.EndpointID != ep.ID {
			t.Errorf("test event body: %s", body)
		}

		// Redelivery: a new delivery of the same event with the same body.
		var red wireDelivery
		e.call(e.secret, "POST", "/v1/webhook_deliveries/"+first.ID+"/redeliver", "", 202, &red)
		if red.ID == first.ID || red.EventID != first.EventID {
			t.Errorf("redeliver: %+v", red)
		}
		_, rbody := rec.wait(t, red.ID)
		_, fbody := rec.wait(t, first.ID)
		if string(rbody) != string(fbody) {
			t.Errorf("redelivered body differs:\n%s\n%s", rbody, fbody)
		}

		// Detail: the exact body and every attempt.
		var det wireDelivery
		deadline := time.Now().Add(30 * time.Second)
		for e.call(e.secret, "GET", "/v1/webhook_deliveries/"+first.ID, "", 200, &det); det.Status != "succeeded" && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			e.call(e.secret, "GET", "/v1/webhook_deliveries/"+first.ID, "", 200, &det)
		}
		if det.RequestBody != string(fbody) || len(det.Attempts) != 1 || det.Attempts[0].StatusCode != 200 ||
			det.Attempts[0].ResponseBody != "ok" {
			t.Errorf("delivery detail: %+v", det)
		}

		// The log pages newest first with a cursor and filters by status.
		var all []string
		after := ""
		for {
			var page wireList[wireDelivery]
			e.call(e.secret, "GET", "/v1/webhook_endpoints/"+ep.ID+"/deliveries?limit=1&starting_after="+after, "", 200, &page)
			if len(page.Data) != 1 {
				t.Fatalf("page of limit 1 has %d items", len(page.Data))
			}
			all = append(all, page.Data[0].ID)
			if !page.HasMore {
				break
			}
			after = page.Data[0].ID
		}
		if len(all) != 3 || all[0] != red.ID || all[2] != first.ID {
			t.Errorf("pages newest first = %v; want [%s %s %s]", all, red.ID, test.ID, first.ID)
		}
		deadline = time.Now().Add(30 * time.Second)
		for {
			var ok wireList[wireDelivery]
			e.call(e.secret, "GET", "/v1/webhook_endpoints/"+ep.ID+"/deliveries?status=succeeded", "", 200, &ok)
			if len(ok.Data) == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("succeeded deliveries: %+v", ok)
			}
			time.Sleep(20 * time.Millisecond)
		}
		var failed wireList[wireDelivery]
		if e.call(e.secret, "GET", "/v1/webhook_endpoints/"+ep.ID+"/deliveries?status=failed", "", 200, &failed); len(failed.Data) != 0 {
			t.Errorf("failed deliveries: %+v", failed)
		}

		var del struct {
			ID      string `json:"id"`
			Deleted bool   `json:"deleted"`
		}
		e.call(e.secret, "DELETE", "/v1/webhook_endpoints/"+ep.ID, "", 200, &del)
		if !del.Deleted || del.ID != ep.ID {
			t.Errorf("delete: %+v", del)
		}
		e.call(e.secret, "GET", "/v1/webhook_endpoints/"+ep.ID, "", 404, nil)
		e.call(e.secret, "GET", "/v1/webhook_deliveries/"+first.ID, "", 404, nil)

		for _, action := range []string{gateway.AuditWebhookEndpointCreated, gateway.AuditWebhookEndpointUpdated,
			gateway.AuditWebhookSecretRotated, gateway.AuditWebhookEndpointDeleted} {
			es, _, err := e.svc.ListAuditEntries(context.Background(), nil, gateway.AuditQuery{StoreID: e.store.ID, Action: action, Limit: 10})
			if err != nil || len(es) != 1 || es[0].Target != ep.ID || es[0].Actor != e.key.ID || strings.Contains(es[0].Details, "whsec_") {
				t.Errorf("audit %s: %+v %v", action, es, err)
			}
		}
	})
}

// TestWebhookValidationAndScopes: bad input is refused with a 400 naming
// the field and creates nothing; live endpoints must be public https; each
// route asks for its scope by name; other stores' objects are not found.
func TestWebhookValidationAndScopes(t *testing.T) {
	forEachEngineWith(t, true, func(t *testing.T, e *env) {
		rec := newReceiver(t)
		path := "/v1/webhook_endpoints"
		cases := []struct {
			name, method, path, body string
			param                    string
		}{
			{"missing url", "POST", path, `{"description":"x"}`, "url"},
			{"not a url", "POST", path, `{"url":"not a url"}`, "url"},
			{"ftp url", "POST", path, `{"url":"ftp://example.com/"}`, "url"},
			{"unknown event type", "POST", path, `{"url":"` + rec.srv.URL + `","enabled_events":["invoice.nope"]}`, "enabled_events"},
			{"test is not subscribable", "POST", path, `{"url":"` + rec.srv.URL + `","enabled_events":["test"]}`, "enabled_events"},
			{"unknown field", "POST", path, `{"url":"` + rec.srv.URL + `","secret":"whsec_mine"}`, "secret"},
			{"wrong type", "POST", path, `{"url":"` + rec.srv.URL + `","enabled":"yes"}`, "enabled"},
			{"long description", "POST", path, `{"url":"` + rec.srv.URL + `","description":"` + strings.Repeat("x", 501) + `"}`, "description"},
			{"bad limit", "GET", path + "?limit=1000", "", "limit"},
			{"unknown query", "GET", path + "?colour=red", "", "colour"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := e.call(e.secret, c.method, c.path, c.body, 400, nil)
				if r.err.Param != c.param {
					t.Errorf("param = %q, want %q (%s)", r.err.Param, c.param, r.body)
				}
			})
		}
		var list wireList[wireEndpoint]
		if e.call(e.secret, "GET", path, "", 200, &list); len(list.Data) != 0 {
			t.Errorf("refused requests created endpoints: %+v", list.Data)
		}

		var ep wireEndpoint
		e.call(e.secret, "POST", path, `{"url":"`+rec.srv.URL+`"}`, 201, &ep)
		if r := e.call(e.secret, "PATCH", path+"/"+ep.ID, `{"url":"nope"}`, 400, nil); r.err.Param != "url" {
			t.Errorf("patch bad url: %s", r.body)
		}
		if r := e.call(e.secret, "PATCH", path+"/"+ep.ID, `{"enabled_events":["x"]}`, 400, nil); r.err.Param != "enabled_events" {
			t.Errorf("patch bad event: %s", r.body)
		}
		if r := e.call(e.secret, "GET", path+"/"+ep.ID+"/deliveries?status=lost", "", 400, nil); r.err.Param != "status" {
			t.Errorf("bad status filter: %s", r.body)
		}

		// Live mode: only public https URLs.
		seed, err := bip84Seed()
		if err != nil {
			t.Fatal(err)
		}
		_, zpub, err := account.DeriveAccountFromSeed(seed, account.Mainnet, 0)
		if err != nil {
			t.Fatal(err)
		}
		live, err := e.svc.CreateStore(context.Background(), gateway.StoreParams{Name: "live", Livemode: true,
			Wallets: []gateway.WalletParams{{Network: string(cryptopay.NetworkBitcoin), AccountKey: zpub}}})
		if err != nil {
			t.Fatal(err)
		}
		liveSecret, _ := e.newKey(gateway.KeyParams{StoreID: live.ID, Livemode: true, Name: "live", Scopes: allScopes()})
		for name, u := range map[string]string{
			"http":       "http://example.com/hook",
			"loopback":   rec.srv.URL,
			"private IP": "https://10.1.2.3/hook",
			"link-local": "https://169.254.169.254/latest",
		} {
			if r := e.call(liveSecret, "POST", path, `{"url":"`+u+`"}`, 400, nil); r.err.Param != "url" {
				t.Errorf("live %s URL: %s", name, r.body)
			}
		}
		// A live key does not see test endpoints, and the reverse.
		e.call(liveSecret, "GET", path+"/"+ep.ID, "", 404, nil)

		readOnly, _ := e.newKey(gateway.KeyParams{Name: "ro", Scopes: []string{"webhooks:read"}})
		invoicesOnly, _ := e.newKey(gateway.KeyParams{Name: "inv", Scopes: []string{"invoices:read"}})
		writes := [][2]string{{"POST", path}, {"PATCH", path + "/" + ep.ID}, {"DELETE", path + "/" + ep.ID},
			{"POST", path + "/" + ep.ID + "/rotate_secret"}, {"POST", path + "/" + ep.ID + "/test"},
			{"POST", "/v1/webhook_deliveries/wd_01aaaaaaaaaaaaaaaaaaaaaaaa/redeliver"}}
		reads := [][2]string{{"GET", path}, {"GET", path + "/" + ep.ID}, {"GET", path + "/" + ep.ID + "/deliveries"},
			{"GET", "/v1/webhook_deliveries/wd_01aaaaaaaaaaaaaaaaaaaaaaaa"}}
		for _, w := range writes {
			if r := e.call(readOnly, w[0], w[1], `{}`, 403, nil); !strings.Contains(r.err.Message, "webhooks:write") {
				t.Errorf("%s %s with webhooks:read: %s", w[0], w[1], r.body)
			}
		}
		for _, rd := range reads {
			if r := e.call(invoicesOnly, rd[0], rd[1], "", 403, nil); !strings.Contains(r.err.Message, "webhooks:read") {
				t.Errorf("%s %s with invoices:read: %s", rd[0], rd[1], r.body)
			}
		}
		e.call(readOnly, "GET", path+"/"+ep.ID, "", 200, nil)
		if r := e.call(e.secret, "GET", path+"/"+ep.ID, "", 200, nil); !strings.Contains(string(r.body), ep.ID) {
			t.Errorf("endpoint gone after refused writes: %s", r.body)
		}
	})
}
