package checkout

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

// testVpub is BIP84's test vector account key on test networks.
const testVpub = "vpub5Y6cjg78GGuNLsaPhmYsiw4gYX3HoQiRBiSwDaBXKUafCt9bNwWQiitDk5VZ5BVxYnQdwoTyXSs2JHRPAgjAvtbBrf8ZhDYe2jWAqvZVnsc"

// fixture is a gateway over a real SQLite database with one test store,
// and the checkout handler on a test server.
type fixture struct {
	t     *testing.T
	svc   *gateway.Service
	key   *cryptopay.APIKey
	store *cryptopay.Store
	h     *Handler
	srv   *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, testdb.SQLite(t))
}

// newFixtureOn is newFixture over db.
func newFixtureOn(t *testing.T, db storage.DB) *fixture {
	t.Helper()
	rs, err := rates.ParseStatic("BTC_USD=65000.00")
	if err != nil {
		t.Fatal(err)
	}
	svc := gateway.New(gateway.Config{DB: db, Outbox: outboxOn(db), Rates: rs})
	ctx := context.Background()
	st, err := svc.CreateStore(ctx, gateway.StoreParams{Name: "Corner Bookshop",
		Wallets: []gateway.WalletParams{{Network: "bitcoin-regtest", AccountKey: testVpub}}})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := svc.CreateKey(ctx, gateway.KeyParams{StoreID: st.ID, Scopes: []string{"invoices:read", "invoices:write"}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, svc: svc, key: ck.Key, store: st, h: New(svc, nil)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pay/{id}", f.h.Page)
	mux.HandleFunc("GET /pay/{id}/events", f.h.Events)
	mux.HandleFunc("GET /pay/{id}/qr.svg", f.h.QR)
	mux.HandleFunc("GET /pay/{id}/logo", f.h.Logo)
	mux.HandleFunc("GET /pay/{id}/theme.css", f.h.Theme)
	mux.HandleFunc("GET /static/checkout/{file}", f.h.Asset)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) invoice(p gateway.InvoiceParams) *cryptopay.Invoice {
	f.t.Helper()
	inv, err := f.svc.CreateInvoice(context.Background(), f.key, p)
	if err != nil {
		f.t.Fatal(err)
	}
	return inv
}

func (f *fixture) get(path string) (*http.Response, string) {
	f.t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, string(b)
}

var usdOrder = gateway.InvoiceParams{OrderID: "order-1042", Amount: "65.00", Currency: "USD",
	CustomerReference: "cust-ref-secret", Metadata: map[string]string{"internal_note": "meta-secret"},
	RedirectURL: "https://shop.example/thanks", ExpiresIn: 15 * time.Minute}

func TestPageNotFound(t *testing.T) {
	f := newFixture(t)
	unknown := cryptopay.NewID(cryptopay.PrefixInvoice, time.Now())
	for _, c := range []struct{ name, path string }{
		{"unknown invoice", "/pay/" + unknown},
		{"malformed id", "/pay/not-an-id"},
		{"another kind of id", "/pay/" + cryptopay.NewID(cryptopay.PrefixStore, time.Now())},
		{"markup in the id", "/pay/%3Cscript%3Ealert(1)%3C%2Fscript%3E"},
		{"events of an unknown invoice", "/pay/" + unknown + "/events"},
		{"QR of an unknown invoice", "/pay/" + unknown + "/qr.svg"},
		{"an asset that does not exist", "/static/checkout/secret.txt"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := f.get(c.path)
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d, want 404", resp.StatusCode)
			}
			if strings.Contains(body, "<script>") {
				t.Errorf("the id is echoed unescaped: %s", body)
			}
			if strings.HasPrefix(c.path, "/pay/") && !strings.Contains(c.path[5:], "/") && !strings.Contains(body, English.NotFoundText) {
				t.Errorf("no friendly 404 page: %s", body)
			}
		})
	}
}

// parsePage parses the page and returns its root.
func parsePage(t *testing.T, body string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func TestPageShowsThePaymentAndNothingPrivate(t *testing.T) {
	f := newFixture(t)
	inv := f.invoice(usdOrder)
	resp, body := f.get("/pay/" + inv.ID)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"Corner Bookshop", "order-1042", "65.00 USD", "0.00100000", inv.Address,
		"/pay/" + inv.ID + "/qr.svg?amount=0.00100000", `href="bitcoin:` + inv.Address + `?amount=0.001"`,
		English.Waiting, "Test payment on bitcoin-regtest", `http-equiv="refresh" content="10"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, secret := range []string{"cust-ref-secret", "meta-secret", "internal_note"} {
		if strings.Contains(body, secret) {
			t.Errorf("the public page reveals %q", secret)
		}
	}
	if strings.Contains(body, "shop.example/thanks") {
		t.Error("the way back to the shop is offered before the invoice is paid")
	}
}

// TestPageHasNoInlineCode holds the page to the strict CSP: no inline
// script or style, no event handler attributes, no javascript: URLs, and
// every script and stylesheet served by this handler.
func TestPageHasNoInlineCode(t *testing.T) {
	f := newFixture(t)
	inv := f.invoice(usdOrder)
	_, body := f.get("/pay/" + inv.ID)
	_, notFound := f.get("/pay/nope")
	for name, page := range map[string]string{"checkout": body, "not found": notFound} {
		var scripts, sheets int
		walk(parsePage(t, page), func(n *html.Node) {
			if n.Type != html.ElementNode {
				return
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") || a.Key == "style" || strings.HasPrefix(strings.TrimSpace(a.Val), "javascript:") {
					t.Errorf("%s: inline code in <%s %s=%q>", name, n.Data, a.Key, a.Val)
				}
			}
			switch n.Data {
			case "style":
				t.Errorf("%s: a <style> element", name)
			case "script":
				src, ok := attr(n, "src")
				if !ok || n.FirstChild != nil {
					t.Errorf("%s: an inline <script>", name)
				}
				scripts++
				f.wantAsset(src, "text/javascript")
			case "link":
				if rel, _ := attr(n, "rel"); rel == "stylesheet" {
					href, _ := attr(n, "href")
					sheets++
					f.wantAsset(href, "text/css")
				}
			}
		})
		if sheets != 1 {
			t.Errorf("%s: %d stylesheets, want 1", name, sheets)
		}
		if name == "checkout" && scripts != 1 {
			t.Errorf("%s: %d scripts, want 1", name, scripts)
		}
	}
}

func (f *fixture) wantAsset(path, contentType string) {
	f.t.Helper()
	if !strings.HasPrefix(path, AssetPrefix) {
		f.t.Errorf("asset %q is not served by this handler", path)
		return
	}
	resp, body := f.get(path)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), contentType) || len(body) < 100 {
		f.t.Errorf("GET %s: %d %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	if !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		f.t.Errorf("GET %s: a versioned asset should be cached for good: %q", path, resp.Header.Get("Cache-Control"))
	}
}

// TestPageAccessibility checks what a screen reader relies on: the page's
// language, a live region for the state, a label for every field, an
// accessible name for every button and a text alternative for the QR code.
func TestPageAccessibility(t *testing.T) {
	f := newFixture(t)
	inv := f.invoice(usdOrder)
	_, body := f.get("/pay/" + inv.ID)
	labels := map[string]bool{}
	var inputs, live []*html.Node
	var lang string
	var h1 int
	walk(parsePage(t, body), func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.Data {
		case "html":
			lang, _ = attr(n, "lang")
		case "h1":
			h1++
		case "label":
			forID, _ := attr(n, "for")
			labels[forID] = true
		case "input", "textarea":
			inputs = append(inputs, n)
		case "img":
			if alt, _ := attr(n, "alt"); !strings.Contains(alt, inv.Address) {
				t.Errorf("the QR code's alt text %q does not say what it encodes", alt)
			}
		case "button":
			if name, _ := attr(n, "aria-label"); name == "" {
				t.Error("a button without an accessible name")
			}
		}
		if v, _ := attr(n, "aria-live"); v == "polite" {
			live = append(live, n)
		}
	})
	if lang != "en" {
		t.Errorf("html lang %q, want en", lang)
	}
	if h1 != 1 {
		t.Errorf("%d h1 elements, want 1", h1)
	}
	if len(live) != 1 || !strings.Contains(renderText(live[0]), English.Waiting) {
		t.Errorf("the state is not in one polite live region (%d regions)", len(live))
	}
	if len(inputs) != 2 {
		t.Errorf("%d fields, want the amount and the address", len(inputs))
	}
	for _, in := range inputs {
		id, _ := attr(in, "id")
		val, _ := attr(in, "value")
		if in.Data == "textarea" {
			val = renderText(in)
		}
		if !labels[id] {
			t.Errorf("input %q has no label", id)
		}
		if _, ro := attr(in, "readonly"); !ro || val == "" {
			t.Errorf("input %q: read-only %v, value %q", id, ro, val)
		}
	}
}

func renderText(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}

func TestQRCode(t *testing.T) {
	f := newFixture(t)
	inv := f.invoice(gateway.InvoiceParams{OrderID: "o-qr", Amount: "0.001", Currency: "BTC"})
	for _, c := range []struct {
		name, query string
		status      int
		encodes     string
	}{
		{"default is the amount due", "", 200, "?amount=0.001"},
		{"part of the amount", "?amount=0.0004", 200, "?amount=0.0004"},
		{"the whole amount", "?amount=0.00100000", 200, "?amount=0.001"},
		{"more than the invoice", "?amount=0.0011", 400, ""},
		{"zero", "?amount=0", 400, ""},
		{"negative", "?amount=-1", 400, ""},
		{"too many decimals", "?amount=0.000000001", 400, ""},
		{"not a number", "?amount=abc", 400, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := f.get("/pay/" + inv.ID + "/qr.svg" + c.query)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if c.status != 200 {
				return
			}
			if resp.Header.Get("Content-Type") != "image/svg+xml" {
				t.Errorf("content type %q", resp.Header.Get("Content-Type"))
			}
			var svg struct {
				Title string `xml:"title"`
				Path  struct {
					D string `xml:"d,attr"`
				} `xml:"path"`
			}
			if err := xml.Unmarshal([]byte(body), &svg); err != nil {
				t.Fatalf("not SVG: %v", err)
			}
			if want := "bitcoin:" + inv.Address + c.encodes; !strings.Contains(svg.Title, want) || svg.Path.D == "" {
				t.Errorf("title %q, want it to name %q; %d path bytes", svg.Title, want, len(svg.Path.D))
			}
		})
	}
}

// readEvent reads one server-sent event (or comment) block.
func readEvent(t *testing.T, r *bufio.Reader) (event, data string, comment bool) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && (event != "" || data != "" || comment):
			return event, data, comment
		case strings.HasPrefix(line, ":"):
			comment = true
		case strings.HasPrefix(line, "event: "):
			event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data += line[len("data: "):]
		}
	}
}

func TestEventsFirstMessageAndHeartbeat(t *testing.T) {
	f := newFixture(t)
	f.h.heartbeat = 20 * time.Millisecond
	inv := f.invoice(usdOrder)
	resp, err := http.Get(f.srv.URL + "/pay/" + inv.ID + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	ev, data, _ := readEvent(t, r)
	if ev != "state" {
		t.Fatalf("first event %q, want state", ev)
	}
	var st State
	if err := json.Unmarshal([]byte(data), &st); err != nil {
		t.Fatal(err)
	}
	if st.Kind != KindWaiting || st.Status != "new" || st.AmountDue != "0.00100000" || st.Remaining != "0.00100000" ||
		st.Price != "65.00 USD" || st.Required != 3 || st.Address != inv.Address || !st.Payable || st.Final ||
		st.ExpiresIn < 800 || st.ExpiresIn > 900 || st.URI != "bitcoin:"+inv.Address+"?amount=0.001" || st.RedirectURL != "" {
		t.Errorf("first state: %+v", st)
	}
	if strings.Contains(data, "secret") {
		t.Errorf("the stream reveals private fields: %s", data)
	}
	// Nothing changes, so the next thing on the wire is a heartbeat.
	if ev, _, comment := readEvent(t, r); !comment || ev != "" {
		t.Fatalf("got event %q, want a heartbeat comment", ev)
	}
}

func TestEventsEndOnFinalStateAndLifetime(t *testing.T) {
	f := newFixture(t)
	f.h.lifetime = 50 * time.Millisecond
	inv := f.invoice(gateway.InvoiceParams{OrderID: "o-life", Amount: "0.001", Currency: "BTC"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(f.srv.URL + "/pay/" + inv.ID + "/events")
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body) // returns when the server ends the stream
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the stream outlived its lifetime")
	}
}

func TestEventsRefusedOverTheLimit(t *testing.T) {
	f := newFixture(t)
	f.h.maxStream = 0
	inv := f.invoice(gateway.InvoiceParams{OrderID: "o-busy", Amount: "0.001", Currency: "BTC"})
	resp, _ := f.get("/pay/" + inv.ID + "/events")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// FuzzQRSVG renders any payment request: the SVG is well-formed XML, square,
// and its title carries the content escaped.
func FuzzQRSVG(f *testing.F) {
	f.Add("bitcoin:bcrt1qexample?amount=0.001", "Payment request")
	f.Add("", "<title>&\"'")
	f.Fuzz(func(t *testing.T, content, title string) {
		b, err := qrSVG(content, title)
		if err != nil {
			return // too long for a QR code
		}
		var svg struct {
			ViewBox string `xml:"viewBox,attr"`
			Title   string `xml:"title"`
		}
		if err := xml.Unmarshal(b, &svg); err != nil {
			t.Fatalf("not XML: %v\n%s", err, b)
		}
		var w, h, x, y int
		if _, err := fmt.Sscan(svg.ViewBox, &x, &y, &w, &h); err != nil || w != h || w < 21 {
			t.Fatalf("viewBox %q", svg.ViewBox)
		}
	})
}

// TestEventsOutliveTheWriteTimeout runs the stream under a server whose
// WriteTimeout is far shorter than the stream: each message extends the
// deadline, so the stream is not cut.
func TestEventsOutliveTheWriteTimeout(t *testing.T) {
	f := newFixture(t)
	f.h.heartbeat = 50 * time.Millisecond
	inv := f.invoice(gateway.InvoiceParams{OrderID: "o-long", Amount: "0.001", Currency: "BTC"})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.SetPathValue("id", inv.ID)
		f.h.Events(w, r)
	}))
	srv.Config.WriteTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if ev, _, _ := readEvent(t, r); ev != "state" {
		t.Fatalf("first event %q", ev)
	}
	start := time.Now()
	for beats := 0; time.Since(start) < time.Second || beats < 5; beats++ {
		if _, _, comment := readEvent(t, r); !comment {
			t.Fatal("want heartbeats on an unchanged invoice")
		}
	}
}

// TestEventsCappedPerInvoiceAndClient: one invoice id, or one client,
// cannot hold every stream slot; past its share it gets 429 with
// Retry-After, and a closed stream frees its slot.
func TestEventsCappedPerInvoiceAndClient(t *testing.T) {
	f := newFixture(t)
	f.h.perInvoice, f.h.perClient = 2, 3
	f.h.SetClientAddr(func(r *http.Request) string { return r.Header.Get("X-Client") })
	a := f.invoice(gateway.InvoiceParams{OrderID: "o-a", Amount: "0.001", Currency: "BTC"})
	b := f.invoice(gateway.InvoiceParams{OrderID: "o-b", Amount: "0.001", Currency: "BTC"})
	c := f.invoice(gateway.InvoiceParams{OrderID: "o-c", Amount: "0.001", Currency: "BTC"})
	open := func(inv *cryptopay.Invoice, client string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", f.srv.URL+"/pay/"+inv.ID+"/events", nil)
		req.Header.Set("X-Client", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp, string(b)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if ev, _, _ := readEvent(t, bufio.NewReader(resp.Body)); ev != "state" { // the slot is held
			t.Fatalf("first event %q", ev)
		}
		return resp, ""
	}
	refused := func(name string, resp *http.Response, body, why string) {
		t.Helper()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, why) {
			t.Errorf("%s: %d (Retry-After %q) %q; want 429 naming %q", name, resp.StatusCode, resp.Header.Get("Retry-After"), body, why)
		}
	}
	first, _ := open(a, "client-1")
	open(a, "client-2")
	resp, body := open(a, "client-3")
	refused("third stream of one invoice", resp, body, "for this invoice")
	open(b, "client-1")
	open(c, "client-1")
	resp, body = open(c, "client-1")
	refused("fourth stream of one client", resp, body, "from your address")
	if resp, body := open(c, "client-4"); resp.StatusCode != http.StatusOK {
		t.Errorf("another client, another invoice: %d %s", resp.StatusCode, body)
	}
	first.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest("GET", f.srv.URL+"/pay/"+a.ID+"/events", nil)
		req.Header.Set("X-Client", "client-5")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream did not free its slot: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// outboxOn is the webhook outbox on db that the test's services write
// their events through, as serve wires them.
func outboxOn(db storage.DB) *webhook.Outbox {
	ob, err := webhook.NewOutbox(db, nil)
	if err != nil {
		panic(err)
	}
	return ob
}
