package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/client"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

func loadOpenAPI(t testing.TB) *openapi3.T {
	t.Helper()
	b, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := loadOpenAPI(t)
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi = %q, want 3.1", doc.OpenAPI)
	}
	if doc.Info.Version != cryptopay.APIVersion {
		t.Errorf("info.version %q, want the API version %q", doc.Info.Version, cryptopay.APIVersion)
	}
	bearer := doc.Components.SecuritySchemes["bearer"]
	if bearer == nil || bearer.Value.Type != "http" || bearer.Value.Scheme != "bearer" {
		t.Errorf("no bearer security scheme: %+v", bearer)
	}
	// The server serves the file it embeds, byte for byte.
	want, _ := os.ReadFile("openapi.json")
	got, err := openAPIFS.ReadFile("openapi.json")
	if err != nil || !bytes.Equal(got, want) {
		t.Error("the embedded document differs from openapi.json")
	}
}

// registeredRoute is one m.HandleFunc line of routes.go.
type registeredRoute struct {
	method, path string
	scope        string // "" for unauthenticated routes
}

// scopeConsts maps the constant names routes.go uses to their values.
var scopeConsts = func() map[string]cryptopay.Scope {
	m := map[string]cryptopay.Scope{}
	for _, s := range cryptopay.AllScopes {
		// ScopeInvoicesRead for "invoices:read"
		name := "Scope"
		for part := range strings.FieldsFuncSeq(string(s), func(r rune) bool { return r == ':' }) {
			name += strings.ToUpper(part[:1]) + part[1:]
		}
		m[name] = s
	}
	return m
}()

// parseRoutes reads routes.go's source: every HandleFunc pattern, and the
// scope passed to s.authed in the same call. The catch-all "/" is left out.
func parseRoutes(t *testing.T) []registeredRoute {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "routes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []registeredRoute
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "HandleFunc" || len(call.Args) != 2 {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			t.Fatalf("a route pattern is not a string literal: %#v", call.Args[0])
		}
		pattern, _ := strconv.Unquote(lit.Value)
		if pattern == "/" {
			return false
		}
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			t.Fatalf("route %q has no method", pattern)
		}
		if !strings.HasPrefix(path, "/v1/") && path != "/healthz" && path != "/readyz" {
			return false // pages (the checkout), not API: openapi.json does not describe them
		}
		r := registeredRoute{method: method, path: path}
		if h, ok := call.Args[1].(*ast.CallExpr); ok {
			if hs, ok := h.Fun.(*ast.SelectorExpr); ok && hs.Sel.Name == "authed" {
				c, ok := h.Args[0].(*ast.SelectorExpr)
				if !ok || scopeConsts[c.Sel.Name] == "" {
					t.Fatalf("route %q: unknown scope %#v", pattern, h.Args[0])
				}
				r.scope = string(scopeConsts[c.Sel.Name])
			}
		}
		out = append(out, r)
		return false
	})
	if len(out) < 10 {
		t.Fatalf("found only %d routes in routes.go", len(out))
	}
	return out
}

func TestOpenAPIDescribesExactlyTheRegisteredRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	registered := map[string]registeredRoute{}
	for _, r := range parseRoutes(t) {
		registered[r.method+" "+r.path] = r
	}
	documented := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented[method+" "+path] = op
		}
	}
	for k, r := range registered {
		op, ok := documented[k]
		if !ok {
			t.Errorf("route %s is registered in routes.go but missing from openapi.json", k)
			continue
		}
		var scopes []string
		if raw, ok := op.Extensions["x-scopes"]; ok {
			for _, s := range raw.([]any) {
				scopes = append(scopes, s.(string))
			}
		}
		switch {
		case r.scope == "" && (op.Security == nil || len(*op.Security) != 0 || len(scopes) != 0):
			t.Errorf("%s needs no key, but the document asks for one (security %v, x-scopes %v)", k, op.Security, scopes)
		case r.scope != "" && !slices.Equal(scopes, []string{r.scope}):
			t.Errorf("%s: x-scopes %v, want [%s]", k, scopes, r.scope)
		case r.scope != "" && !strings.Contains(op.Description, "`"+r.scope+"`"):
			t.Errorf("%s: the description does not name the scope %s", k, r.scope)
		case r.scope != "" && op.Responses.Status(401) == nil:
			t.Errorf("%s: authenticated, but no 401 documented", k)
		}
	}
	for k := range documented {
		if _, ok := registered[k]; !ok {
			t.Errorf("openapi.json describes %s, which routes.go does not register", k)
		}
	}
}

// validatingTransport checks every response the server sends against the
// document, and every request that succeeded against its request schema.
type validatingTransport struct {
	t      testing.TB
	base   http.RoundTripper
	router routers.Router
	mu     sync.Mutex
	seen   map[string][]int // operation id → statuses validated
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		// Not a documented route (404 and 405 probes): the error shape is
		// still the documented one.
		v.t.Logf("%s %s: no documented route (%v), status %d", req.Method, req.URL.Path, err, resp.StatusCode)
		return resp, nil
	}
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	if resp.StatusCode < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			v.t.Errorf("%s %s: a request the server accepted does not match the document: %v", req.Method, req.URL, err)
		}
	}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	if err != nil {
		v.t.Errorf("%s %s → %d does not match the document: %v\nbody: %s", req.Method, req.URL, resp.StatusCode, err, body)
	}
	v.mu.Lock()
	v.seen[route.Operation.OperationID] = append(v.seen[route.Operation.OperationID], resp.StatusCode)
	v.mu.Unlock()
	return resp, nil
}

func TestOpenAPIResponsesMatchServer(t *testing.T) {
	doc := loadOpenAPI(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	forEachEngineWith(t, true, func(t *testing.T, e *env) {
		vt := &validatingTransport{t: t, base: e.httpc.Transport, router: router, seen: map[string][]int{}}
		e.httpc = &http.Client{Transport: vt}
		c := e.client(e.secret)
		ctx := context.Background()
		bearer := "Bearer " + e.secret

		for _, p := range []string{"/healthz", "/readyz", "/v1/openapi.json"} {
			e.raw("GET", p, "", nil, "")
		}
		inv, err := c.CreateInvoice(ctx, client.InvoiceParams{OrderID: "o-1", Amount: "100.00", Currency: "USD",
			Metadata: map[string]string{"a": "b"}, RedirectURL: "https://shop.example/", ExpiresIn: time.Hour}, client.WithIdempotencyKey("i-1"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.CreateInvoice(ctx, client.InvoiceParams{OrderID: "o-1", Amount: "100.00", Currency: "USD",
			Metadata: map[string]string{"a": "b"}, RedirectURL: "https://shop.example/", ExpiresIn: time.Hour}, client.WithIdempotencyKey("i-1")) // replay
		_, _ = c.CreateInvoice(ctx, usdInvoice("o-2"), client.WithIdempotencyKey("i-1")) // 422
		_, _ = c.CreateInvoice(ctx, usdInvoice("o-1"))                                   // 409
		_, _ = c.CreateInvoice(ctx, client.InvoiceParams{OrderID: "o-3", Amount: "0.001", Currency: "BTC"})
		_, _ = c.CreateInvoice(ctx, client.InvoiceParams{OrderID: "o-5", Amount: "10.00", Currency: "EUR"}) // 503: no EUR rate
		e.raw("GET", "/v1/rates", bearer, nil, "")
		_, _ = c.GetInvoice(ctx, inv.ID)
		_, _ = c.GetInvoice(ctx, "inv_01aaaaaaaaaaaaaaaaaaaaaaaa") // 404
		_, _ = c.ListInvoices(ctx, client.ListInvoicesParams{Limit: 1, Status: "new"})
		_, _ = c.ListEvents(ctx, client.ListEventsParams{Invoice: inv.ID, Type: "invoice.created"})
		_, _ = c.MarkSettled(ctx, inv.ID, "paid by bank transfer")
		_, _ = c.MarkSettled(ctx, inv.ID, "paid by bank transfer")                           // 409
		_, _ = c.MarkSettled(ctx, "inv_01aaaaaaaaaaaaaaaaaaaaaaaa", "paid by bank transfer") // 404
		_, _ = c.MarkInvalid(ctx, inv.ID, "")                                                // 400
		_, _ = c.MarkInvalid(ctx, inv.ID, "refunded")
		_, _ = c.ListEvents(ctx, client.ListEventsParams{Invoice: inv.ID}) // with data.marked and reason
		k, err := c.CreateAPIKey(ctx, client.APIKeyParams{Name: "n", Scopes: []string{"invoices:read"}, AllowedIPs: []string{"127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = e.client(k.Secret).ListInvoices(ctx, client.ListInvoicesParams{}) // sets last_used_at
		_, _ = c.ListAPIKeys(ctx)
		_, _ = c.GetAPIKey(ctx, k.ID)
		g := time.Hour
		r, err := c.RotateAPIKey(ctx, k.ID, client.RotateAPIKeyParams{GracePeriod: &g})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.GetAPIKey(ctx, k.ID) // rotated_to and a future revoked_at
		_, _ = c.RevokeAPIKey(ctx, r.ID)
		_, _ = c.RevokeAPIKey(ctx, r.ID) // 409
		mgrSecret, _ := e.newKey(gateway.KeyParams{Name: "mgr", Scopes: []string{"keys:write"}})
		mgr := e.client(mgrSecret)
		_, _ = mgr.CreateAPIKey(ctx, client.APIKeyParams{Scopes: []string{"audit:read"}}) // 403
		_, _ = mgr.RotateAPIKey(ctx, e.key.ID, client.RotateAPIKeyParams{})               // 403
		_, _ = mgr.RevokeAPIKey(ctx, e.key.ID)                                            // 403
		_, _ = mgr.CreateAPIKey(ctx, client.APIKeyParams{Scopes: []string{"keys:write"}}, client.WithIdempotencyKey("k-1"))
		_, _ = mgr.CreateAPIKey(ctx, client.APIKeyParams{Scopes: []string{"keys:write"}}, client.WithIdempotencyKey("k-1")) // 409
		_, _ = e.client(k.Secret).CreateInvoice(ctx, usdInvoice("o-4"))                                                     // 403
		_, _ = e.client("").ListInvoices(ctx, client.ListInvoicesParams{})                                                  // 401
		_, _ = c.ListInvoices(ctx, client.ListInvoicesParams{Limit: 1000})                                                  // 400
		e.raw("POST", "/v1/invoices", bearer, nil, validInvoice("big", `,"x":"`+strings.Repeat("x", 70000)+`"`))            // 413
		e.raw("POST", "/v1/invoices", bearer, map[string]string{"Content-Type": "text/plain"}, validInvoice("ct", ""))      // 415
		e.raw("DELETE", "/v1/invoices", bearer, nil, "")                                                                    // 405, undocumented route
		e.raw("GET", "/v1/nope", bearer, nil, "")                                                                           // 404, undocumented route
		exerciseWebhookRoutes(t, e, bearer)
		_ = e.db.Close()
		e.raw("GET", "/readyz", "", nil, "") // 503

		want := map[string][]int{
			"healthz": {200}, "readyz": {200, 503}, "getOpenAPI": {200},
			"createInvoice": {201, 403, 409, 413, 415, 422, 503}, "listRates": {200}, "getInvoice": {200, 404}, "listInvoices": {200, 400, 401},
			"listEvents": {200}, "markInvoiceSettled": {200, 404, 409}, "markInvoiceInvalid": {200, 400}, "createAPIKey": {201, 403, 409}, "listAPIKeys": {200}, "getAPIKey": {200},
			"rotateAPIKey": {201, 403}, "revokeAPIKey": {200, 403, 409},
			"createWebhookEndpoint": {201, 400, 403}, "listWebhookEndpoints": {200, 400},
			"getWebhookEndpoint": {200, 404}, "updateWebhookEndpoint": {200, 400}, "deleteWebhookEndpoint": {200, 404},
			"rotateWebhookSecret": {200}, "testWebhookEndpoint": {202}, "listWebhookDeliveries": {200, 400},
			"getWebhookDelivery": {200, 404}, "redeliverWebhook": {202, 409},
		}
		for op, statuses := range want {
			for _, s := range statuses {
				if !slices.Contains(vt.seen[op], s) {
					t.Errorf("%s: no %d response was validated (saw %v)", op, s, vt.seen[op])
				}
			}
		}
		if t.Failed() {
			t.Log(fmt.Sprint(vt.seen))
		}
	})
}

// exerciseWebhookRoutes calls every webhook route for the response
// validation above, with the responses a merchant sees most: a delivery
// that reached a receiver (with its attempts), refusals and conflicts.
func exerciseWebhookRoutes(t *testing.T, e *env, bearer string) {
	rec := newReceiver(t)
	ct := map[string]string{"Content-Type": "application/json"}
	r := e.raw("POST", "/v1/webhook_endpoints", bearer, ct, `{"url":"`+rec.srv.URL+`","description":"d","enabled_events":["invoice.created","test"]}`)
	if r.status != 400 {
		t.Fatalf("test is not subscribable, yet: %s", r.body)
	}
	var ep struct{ ID string }
	r = e.raw("POST", "/v1/webhook_endpoints", bearer, ct, `{"url":"`+rec.srv.URL+`","description":"d","enabled_events":["invoice.created"]}`)
	if err := json.Unmarshal(r.body, &ep); err != nil || ep.ID == "" {
		t.Fatalf("create endpoint: %s", r.body)
	}
	ro, _ := e.newKey(gateway.KeyParams{Name: "ro", Scopes: []string{"webhooks:read"}})
	e.raw("POST", "/v1/webhook_endpoints", "Bearer "+ro, ct, `{"url":"`+rec.srv.URL+`"}`) // 403
	base := "/v1/webhook_endpoints/" + ep.ID
	e.raw("GET", "/v1/webhook_endpoints?limit=1", bearer, nil, "")
	e.raw("GET", "/v1/webhook_endpoints?limit=0x", bearer, nil, "") // 400
	e.raw("GET", base, bearer, nil, "")
	e.raw("GET", "/v1/webhook_endpoints/we_01aaaaaaaaaaaaaaaaaaaaaaaa", bearer, nil, "") // 404
	e.raw("PATCH", base, bearer, ct, `{"description":"e"}`)
	e.raw("PATCH", base, bearer, ct, `{"url":7}`) // 400
	e.raw("POST", base+"/rotate_secret", bearer, nil, "")
	var d struct{ ID string }
	if err := json.Unmarshal(e.raw("POST", base+"/test", bearer, nil, "").body, &d); err != nil || d.ID == "" {
		t.Fatal("test event: no delivery")
	}
	rec.wait(t, d.ID)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(string(e.raw("GET", "/v1/webhook_deliveries/"+d.ID, bearer, nil, "").body), `"succeeded"`) {
		if time.Now().After(deadline) {
			t.Fatal("the test delivery was never recorded as succeeded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.raw("GET", "/v1/webhook_deliveries/wd_01aaaaaaaaaaaaaaaaaaaaaaaa", bearer, nil, "") // 404
	e.raw("GET", base+"/deliveries?status=succeeded&limit=1", bearer, nil, "")
	e.raw("GET", base+"/deliveries?status=lost", bearer, nil, "") // 400
	e.raw("POST", "/v1/webhook_deliveries/"+d.ID+"/redeliver", bearer, nil, "")
	e.raw("PATCH", base, bearer, ct, `{"enabled":false}`)
	e.raw("POST", "/v1/webhook_deliveries/"+d.ID+"/redeliver", bearer, nil, "") // 409: disabled
	e.raw("DELETE", base, bearer, nil, "")
	e.raw("DELETE", base, bearer, nil, "") // 404
}
