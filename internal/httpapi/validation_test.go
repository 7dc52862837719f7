package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay/internal/gateway"
)

// rawResponse is a response read without the client, so malformed
// requests can be sent as they are.
type rawResponse struct {
	status int
	header http.Header
	err    struct {
		Type      string `json:"type"`
		Code      string `json:"code"`
		Message   string `json:"message"`
		Param     string `json:"param"`
		RequestID string `json:"request_id"`
	}
	body []byte
}

// raw sends body with Content-Type: application/json unless header sets
// another (or "" to send none).
func (e *env) raw(method, path, auth string, header map[string]string, body string) rawResponse {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json") // as a client sends it; a case may override or remove it
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := e.httpc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	r := rawResponse{status: resp.StatusCode, header: resp.Header}
	r.body, _ = io.ReadAll(resp.Body)
	var env struct {
		Error *json.RawMessage `json:"error"`
	}
	if json.Unmarshal(r.body, &env) == nil && env.Error != nil {
		_ = json.Unmarshal(*env.Error, &r.err)
	}
	return r
}

// validInvoice is a request body the server accepts; cases change one
// thing about it.
func validInvoice(order string, extra string) string {
	return fmt.Sprintf(`{"order_id":%q,"amount":"10.00","currency":"USD"%s}`, order, extra)
}

func TestBadRequestsAreRefusedAndWriteNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		bearer := "Bearer " + e.secret
		readOnly, _ := e.newKey(gateway.KeyParams{Scopes: []string{"invoices:read"}})
		manyKeys := make([]string, 21)
		for i := range manyKeys {
			manyKeys[i] = fmt.Sprintf(`"k%d":"v"`, i)
		}
		deep := strings.Repeat(`{"a":`, 9) + `1` + strings.Repeat(`}`, 9)
		huge := validInvoice("huge", `,"customer_reference":"`+strings.Repeat("x", 65<<10)+`"`)

		cases := []struct {
			name         string
			method, path string
			auth         string // "" sends no Authorization header
			header       map[string]string
			body         string
			status       int
			code, param  string
		}{
			{"unknown field", "POST", "/v1/invoices", bearer, nil, validInvoice("a", `,"colour":"red"`), 400, "invalid_request", "colour"},
			{"order_id not a string", "POST", "/v1/invoices", bearer, nil, `{"order_id":5,"amount":"1.00","currency":"USD"}`, 400, "invalid_request", "order_id"},
			{"amount as a number", "POST", "/v1/invoices", bearer, nil, `{"order_id":"a","amount":10.5,"currency":"USD"}`, 400, "invalid_request", "amount"},
			{"amount as an integer number", "POST", "/v1/invoices", bearer, nil, `{"order_id":"a","amount":10,"currency":"USD"}`, 400, "invalid_request", "amount"},
			{"negative amount", "POST", "/v1/invoices", bearer, nil, `{"order_id":"a","amount":"-1.00","currency":"USD"}`, 400, "invalid_request", "amount"},
			{"zero amount", "POST", "/v1/invoices", bearer, nil, `{"order_id":"a","amount":"0.00","currency":"USD"}`, 400, "invalid_request", "amount"},
			{"too many decimals", "POST", "/v1/invoices", bearer, nil, `{"order_id":"a","amount":"1.001","currency":"USD"}`, 400, "invalid_request", "amount"},
			{"decimals on JPY", "POST", "/v1/invoices", bearer, nil, `{"order_id":"a","amount":"100.5","currency":"JPY"}`, 400, "invalid_request", "amount"},
			{"exponent notation", "POST", "/v1/invoices", bearer, nil, `{"order_id":"a","amount":"1e3","currency":"USD"}`, 400, "invalid_request", "amount"},
			{"amount with spaces", "POST", "/v1/invoices", bearer, nil, `{"order_id":"a","amount":" 1.00","currency":"USD"}`, 400, "invalid_request", "amount"},
			{"missing amount", "POST", "/v1/invoices", bearer, nil, `{"order_id":"a","currency":"USD"}`, 400, "invalid_request", "amount"},
			{"unknown currency", "POST", "/v1/invoices", bearer, nil, `{"order_id":"a","amount":"1.00","currency":"XYZ"}`, 400, "invalid_request", "currency"},
			{"lowercase currency", "POST", "/v1/invoices", bearer, nil, `{"order_id":"a","amount":"1.00","currency":"usd"}`, 400, "invalid_request", "currency"},
			{"unknown network", "POST", "/v1/invoices", bearer, nil, validInvoice("a", `,"network":"dogecoin"`), 400, "invalid_request", "network"},
			{"test key on the live network", "POST", "/v1/invoices", bearer, nil, validInvoice("a", `,"network":"bitcoin"`), 403, "forbidden", "network"},
			{"body over 64 KiB", "POST", "/v1/invoices", bearer, nil, huge, 413, "request_too_large", ""},
			{"nesting too deep", "POST", "/v1/invoices", bearer, nil, `{"metadata":` + deep + `}`, 400, "invalid_request", ""},
			{"trailing garbage", "POST", "/v1/invoices", bearer, nil, validInvoice("a", "") + `x`, 400, "invalid_request", ""},
			{"two objects", "POST", "/v1/invoices", bearer, nil, validInvoice("a", "") + validInvoice("b", ""), 400, "invalid_request", ""},
			{"empty body", "POST", "/v1/invoices", bearer, nil, ``, 400, "invalid_request", ""},
			{"array body", "POST", "/v1/invoices", bearer, nil, `[]`, 400, "invalid_request", ""},
			{"truncated JSON", "POST", "/v1/invoices", bearer, nil, `{"order_id":"a"`, 400, "invalid_request", ""},
			{"metadata value not a string", "POST", "/v1/invoices", bearer, nil, validInvoice("a", `,"metadata":{"n":1}`), 400, "invalid_request", "metadata[n]"},
			{"metadata too many keys", "POST", "/v1/invoices", bearer, nil, validInvoice("a", `,"metadata":{`+strings.Join(manyKeys, ",")+`}`), 400, "invalid_request", "metadata"},
			{"metadata value too long", "POST", "/v1/invoices", bearer, nil, validInvoice("a", `,"metadata":{"note":"`+strings.Repeat("x", 501)+`"}`), 400, "invalid_request", "metadata[note]"},
			{"missing order_id", "POST", "/v1/invoices", bearer, nil, `{"amount":"1.00","currency":"USD"}`, 400, "invalid_request", "order_id"},
			{"order_id too long", "POST", "/v1/invoices", bearer, nil, validInvoice(strings.Repeat("o", 129), ""), 400, "invalid_request", "order_id"},
			{"order_id with a control character", "POST", "/v1/invoices", bearer, nil, `{"order_id":"a\u0001b","amount":"1.00","currency":"USD"}`, 400, "invalid_request", "order_id"},
			{"customer_reference too long", "POST", "/v1/invoices", bearer, nil, validInvoice("a", `,"customer_reference":"`+strings.Repeat("c", 129)+`"`), 400, "invalid_request", "customer_reference"},
			{"redirect_url javascript:", "POST", "/v1/invoices", bearer, nil, validInvoice("a", `,"redirect_url":"javascript:alert(1)"`), 400, "invalid_request", "redirect_url"},
			{"redirect_url with credentials", "POST", "/v1/invoices", bearer, nil, validInvoice("a", `,"redirect_url":"https://u:p@shop.example/"`), 400, "invalid_request", "redirect_url"},
			{"expires_in too small", "POST", "/v1/invoices", bearer, nil, validInvoice("a", `,"expires_in":30`), 400, "invalid_request", "expires_in"},
			{"expires_in too large", "POST", "/v1/invoices", bearer, nil, validInvoice("a", `,"expires_in":2592001`), 400, "invalid_request", "expires_in"},
			{"expires_in not an integer", "POST", "/v1/invoices", bearer, nil, validInvoice("a", `,"expires_in":90.5`), 400, "invalid_request", "expires_in"},
			{"expires_in negative", "POST", "/v1/invoices", bearer, nil, validInvoice("a", `,"expires_in":-60`), 400, "invalid_request", "expires_in"},
			{"Idempotency-Key too long", "POST", "/v1/invoices", bearer, map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, validInvoice("a", ""), 400, "invalid_request", "Idempotency-Key"},
			{"missing scope", "POST", "/v1/invoices", "Bearer " + readOnly, nil, validInvoice("a", ""), 403, "forbidden", ""},
			{"missing auth", "POST", "/v1/invoices", "", nil, validInvoice("a", ""), 401, "unauthenticated", ""},
			{"malformed bearer", "POST", "/v1/invoices", "Bearer nope", nil, validInvoice("a", ""), 401, "unauthenticated", ""},
			{"not a bearer scheme", "POST", "/v1/invoices", "Token " + e.secret, nil, validInvoice("a", ""), 401, "unauthenticated", ""},
			{"bad invoice id", "GET", "/v1/invoices/nope", bearer, nil, "", 400, "invalid_request", "id"},
			{"unknown invoice id", "GET", "/v1/invoices/inv_01aaaaaaaaaaaaaaaaaaaaaaaa", bearer, nil, "", 404, "not_found", ""},
			{"limit=0", "GET", "/v1/invoices?limit=0", bearer, nil, "", 400, "invalid_request", "limit"},
			{"limit=1000", "GET", "/v1/invoices?limit=1000", bearer, nil, "", 400, "invalid_request", "limit"},
			{"limit not a number", "GET", "/v1/invoices?limit=ten", bearer, nil, "", 400, "invalid_request", "limit"},
			{"unknown query parameter", "GET", "/v1/invoices?colour=red", bearer, nil, "", 400, "invalid_request", "colour"},
			{"status=bogus", "GET", "/v1/invoices?status=bogus", bearer, nil, "", 400, "invalid_request", "status"},
			{"starting_after=garbage", "GET", "/v1/invoices?starting_after=garbage", bearer, nil, "", 400, "invalid_request", "starting_after"},
			{"events type=bogus", "GET", "/v1/events?type=bogus", bearer, nil, "", 400, "invalid_request", "type"},
			{"events invoice=garbage", "GET", "/v1/events?invoice=garbage", bearer, nil, "", 400, "invalid_request", "invoice"},
			{"events limit=101", "GET", "/v1/events?limit=101", bearer, nil, "", 400, "invalid_request", "limit"},
			{"bad key id", "GET", "/v1/api_keys/nope", bearer, nil, "", 400, "invalid_request", "id"},
			{"unknown query on keys", "GET", "/v1/api_keys?all=1", bearer, nil, "", 400, "invalid_request", "all"},
			{"key with an unknown scope", "POST", "/v1/api_keys", bearer, nil, `{"scopes":["invoices:delete"]}`, 400, "invalid_request", "scopes"},
			{"key with no scopes", "POST", "/v1/api_keys", bearer, nil, `{"name":"x"}`, 400, "invalid_request", "scopes"},
			{"key with a bad allowlist", "POST", "/v1/api_keys", bearer, nil, `{"scopes":["invoices:read"],"allowed_ips":["not-an-ip"]}`, 400, "invalid_request", "allowed_ips[0]"},
			{"key expiring too soon", "POST", "/v1/api_keys", bearer, nil, `{"scopes":["invoices:read"],"expires_in":60}`, 400, "invalid_request", "expires_in"},
			{"rotate with a negative grace", "POST", "/v1/api_keys/" + e.key.ID + "/rotate", bearer, nil, `{"grace_period":-1}`, 400, "invalid_request", "grace_period"},
			{"rotate with a grace over 7 days", "POST", "/v1/api_keys/" + e.key.ID + "/rotate", bearer, nil, `{"grace_period":604801}`, 400, "invalid_request", "grace_period"},
			{"wrong method", "DELETE", "/v1/invoices", bearer, nil, "", 405, "method_not_allowed", ""},
			{"wrong method on an item", "PUT", "/v1/invoices/inv_01aaaaaaaaaaaaaaaaaaaaaaaa", bearer, nil, "", 405, "method_not_allowed", ""},
			{"unknown route", "GET", "/v1/nope", bearer, nil, "", 404, "not_found", ""},
		}
		if len(cases) < 30 {
			t.Fatalf("only %d cases", len(cases))
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := e.counts()
				r := e.raw(tc.method, tc.path, tc.auth, tc.header, tc.body)
				if r.status != tc.status || r.err.Code != tc.code || r.err.Param != tc.param {
					t.Errorf("got %d %s param %q (%s), want %d %s param %q",
						r.status, r.err.Code, r.err.Param, r.err.Message, tc.status, tc.code, tc.param)
				}
				if !strings.HasPrefix(r.err.RequestID, "req_") || r.err.RequestID != r.header.Get("Request-Id") {
					t.Errorf("request id %q in the body, %q in the header", r.err.RequestID, r.header.Get("Request-Id"))
				}
				if r.err.Message == "" || r.err.Type == "" {
					t.Errorf("error without a message or type: %s", r.body)
				}
				if tc.status == 405 && r.header.Get("Allow") == "" {
					t.Error("405 without an Allow header")
				}
				if after := e.counts(); after != before {
					t.Errorf("a refused request wrote: %+v → %+v", before, after)
				}
			})
		}
		// The same server still serves a good request afterwards.
		if r := e.raw("POST", "/v1/invoices", bearer, nil, validInvoice("good", "")); r.status != 201 {
			t.Errorf("a valid request after the bad ones: %d %s", r.status, r.body)
		}
	})
}

// TestPanicIsAGeneric500 checks that a handler panic reaches the client as
// a 500 carrying only a generic message and the request id, while the
// panic value (which may hold internal detail) goes only to the log.
func TestPanicIsAGeneric500(t *testing.T) {
	var logs bytes.Buffer
	s := New(Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	s.mux.HandleFunc("GET /v1/panic", s.handle(func(http.ResponseWriter, *http.Request) error {
		panic("secret: database password is hunter2")
	}))
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/v1/panic")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var got struct {
		Error map[string]string `json:"error"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	id := resp.Header.Get("Request-Id")
	want := map[string]string{"type": "api_error", "code": "internal_error", "message": "An internal error occurred.", "request_id": id}
	if resp.StatusCode != 500 || fmt.Sprint(got.Error) != fmt.Sprint(want) {
		t.Errorf("got %d %v, want 500 %v", resp.StatusCode, got.Error, want)
	}
	if strings.Contains(string(body), "hunter2") {
		t.Errorf("the panic value reached the client: %s", body)
	}
	if !strings.Contains(logs.String(), "hunter2") || !strings.Contains(logs.String(), id) {
		t.Errorf("the log lacks the panic or the request id: %s", logs.String())
	}
}

// FuzzCreateInvoiceBody sends arbitrary bodies to POST /v1/invoices: the
// answer is always a 201 invoice or a client error in the one error shape,
// never a 5xx; a refused body writes nothing, and an accepted one creates
// the order, amount and currency a lenient reader of the same bytes sees.
func FuzzCreateInvoiceBody(f *testing.F) {
	for _, s := range []string{
		validInvoice("seed", ""), validInvoice("seed", `,"metadata":{"a":"b"},"expires_in":120`),
		`{"order_id":"x","amount":1e3,"currency":"USD"}`, `{"amount":"1.001"`, `[]`, `null`, `{"a":{"b":{"c":[[[[[[[]]]]]]]}}}`,
		`{"order_id":"x","amount":"0.00000001","currency":"BTC","network":"bitcoin-regtest"}`,
		`{"order_id":"x","amount":"0.001","Amount":"5","currency":"BTC"}`, `{"order_id":"x","amount":"0.001","amount":"5","currency":"BTC"}`,
		"{\"order_id\":\"\xff\",\"amount\":\"1\",\"currency\":\"BTC\"}", `{"order_id":"x","amount":"010","currency":"BTC"}`,
		`{"order_id":"x\u202e","amount":"0.0015","currency":"BTC","expires_in":"600"}`,
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f, engine{"sqlite", openSQLite})
	h := New(Config{Service: e.svc}).Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		before := e.countsFor(t)
		req := httptest.NewRequest("POST", "/v1/invoices", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.secret)
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "127.0.0.1:1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q → %d %s", body, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusCreated {
			// What was charged is what any other reader of these bytes sees
			// (here the standard library's lenient decoder), echoed as sent.
			var sent, got struct{ OrderID, Amount, Currency string }
			if err := json.Unmarshal(body, &sent); err != nil {
				t.Fatalf("%q was accepted but does not decode leniently: %v", body, err)
			}
			_ = json.Unmarshal(rec.Body.Bytes(), &got)
			if got != sent {
				t.Fatalf("%q: a lenient reader sees %+v, the gateway created %+v", body, sent, got)
			}
			return
		}
		var got struct {
			Error struct{ Code, Message, RequestID string } `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Error.Code == "" || got.Error.Message == "" {
			t.Fatalf("%q → %d with a body not in the error shape: %s", body, rec.Code, rec.Body)
		}
		if after := e.countsFor(t); after != before {
			t.Fatalf("%q was refused (%d) but wrote: %+v → %+v", body, rec.Code, before, after)
		}
	})
}
