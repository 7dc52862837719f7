//go:build unix

package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/client"
	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
	"github.com/cryptopay/cryptopay/internal/devnet"
	"github.com/cryptopay/cryptopay/webhooksig"
)

// syncBuffer is a bytes.Buffer several goroutines write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

// forwarded is one request the shop's test server got from listen.
type forwarded struct {
	body   []byte
	header http.Header
	err    error // from webhooksig.ReadAndVerify
}

var (
	exportSecretLine = regexp.MustCompile(`^export CRYPTOPAY_WEBHOOK_SECRET=(whsec_\S+)$`)
	readyEndpoint    = regexp.MustCompile(`temporary endpoint (we_\S+);`)
	triggeredLine    = regexp.MustCompile(`triggered invoice\.settled: event (evt_\S+) on invoice (inv_\S+)`)
)

// TestListenForwardsATriggeredSettlement is the README's promise end to
// end: with the sandbox running (its real regtest nodes and gateway),
// `cryptopay listen --forward-to` a shop's handler that verifies with the
// public webhooksig package, then `cryptopay trigger invoice.settled`: the
// shop gets a real invoice.settled whose signature verifies with the
// secret listen printed, byte for byte the body the gateway logged, and
// the gateway records the shop's own status code. A request to the relay
// that is not signed is refused and never reaches the shop. Ctrl-C
// (cancelling listen's context, which SIGINT does in main) removes the
// temporary endpoint.
func TestListenForwardsATriggeredSettlement(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the sandbox: btcd nodes and a gateway")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	btcd, err := regtest.BtcdPath(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vars := map[string]string{"CRYPTOPAY_DATA_DIR": dir, "CRYPTOPAY_LISTEN": freeAddr(t), regtest.BtcdPathEnv: btcd,
		"CRYPTOPAY_LOG_LEVEL": "warn"}
	getenv := func(k string) string { return vars[k] }

	sandboxCtx, stopSandbox := context.WithCancel(ctx)
	sandboxDone := make(chan error, 1)
	var sandboxOut syncBuffer
	go func() {
		sandboxDone <- runSandbox(sandboxCtx, Env{Getenv: getenv, Stdout: &sandboxOut, Stderr: &sandboxOut})
	}()
	t.Cleanup(func() {
		stopSandbox()
		if err := <-sandboxDone; err != nil {
			t.Errorf("sandbox: %v", err)
		}
	})
	st := waitSandbox(t, ctx, dir, sandboxDone, &sandboxOut)

	// The shop's own handler, verifying as the README tells shops to.
	var secret atomic.Value
	secret.Store("")
	got := make(chan forwarded, 64)
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := webhooksig.ReadAndVerify(r, secret.Load().(string), 0)
		got <- forwarded{body: body, header: r.Header.Clone(), err: err}
		if err != nil || r.URL.Path != "/webhooks" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted) // not 200: the gateway must record the shop's own code
	}))
	defer shop.Close()

	listenCtx, ctrlC := context.WithCancel(ctx)
	defer ctrlC()
	pr, pw := io.Pipe()
	var listenErr syncBuffer
	listenDone := make(chan error, 1)
	go func() {
		err := runListen(listenCtx, Env{Getenv: getenv, Stdout: pw, Stderr: &listenErr},
			[]string{"--forward-to", shop.URL + "/webhooks", "--events", "invoice.*,payment.*"})
		pw.Close()
		listenDone <- err
	}()
	var listenOut syncBuffer
	lines := make(chan string, 256)
	go func() {
		s := bufio.NewScanner(pr)
		for s.Scan() {
			listenOut.Write([]byte(s.Text() + "\n"))
			lines <- s.Text()
		}
		close(lines)
	}()
	for secret.Load().(string) == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("listen ended before printing its secret: %v\nstderr:\n%s", <-listenDone, listenErr.String())
			}
			if m := exportSecretLine.FindStringSubmatch(line); m != nil {
				secret.Store(m[1])
			}
		case <-ctx.Done():
			t.Fatal("no export line from listen")
		}
	}
	m := readyEndpoint.FindStringSubmatch(listenErr.String())
	if m == nil {
		t.Fatalf("listen did not name its endpoint:\n%s", listenErr.String())
	}
	endpointID := m[1]

	// A key of our own to look at the gateway, as a shop would.
	var k mintKeyResponse
	if err := callControl(ctx, st, http.MethodPost, "/keys", mintKeyRequest{Name: "test", Scopes: []string{"webhooks:read", "events:read"}}, &k); err != nil {
		t.Fatal(err)
	}
	api := client.New(st.API, k.Secret)
	var ep struct {
		URL       string     `json:"url"`
		ExpiresAt *time.Time `json:"expires_at"`
		Livemode  bool       `json:"livemode"`
	}
	if err := getJSON(ctx, st.API+"/v1/webhook_endpoints/"+endpointID, k.Secret, &ep); err != nil {
		t.Fatal(err)
	}
	if ep.Livemode || ep.ExpiresAt == nil || time.Until(*ep.ExpiresAt) > listenTTL || !strings.HasPrefix(ep.URL, "http://127.0.0.1:") {
		t.Fatalf("listen's endpoint: %+v; want a test-mode loopback endpoint expiring within %s", ep, listenTTL)
	}

	// Anyone on this machine can reach the relay; only signed deliveries pass.
	resp, err := http.Post(ep.URL, "application/json", strings.NewReader(`{"type":"invoice.settled","data":{"invoice_id":"inv_forged"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned request to the relay: %d, want 401", resp.StatusCode)
	}

	var trigOut, trigErr syncBuffer
	if code := Run(ctx, []string{"trigger", "invoice.settled"}, Env{Getenv: getenv, Stdout: &trigOut, Stderr: &trigErr}); code != 0 {
		t.Fatalf("trigger invoice.settled: exit %d\n%s%s", code, trigOut.String(), trigErr.String())
	}
	tm := triggeredLine.FindStringSubmatch(trigOut.String())
	if tm == nil {
		t.Fatalf("trigger did not name the event:\n%s", trigOut.String())
	}
	eventID, invoiceID := tm[1], tm[2]

	var settled forwarded
	for settled.body == nil {
		select {
		case f := <-got:
			if f.err != nil {
				t.Fatalf("the shop could not verify a forwarded delivery: %v (headers %v)", f.err, f.header)
			}
			if f.header.Get(webhooksig.HeaderEventID) == eventID {
				settled = f
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no invoice.settled %s at the shop within 30s\nlisten stdout:\n%s\nstderr:\n%s", eventID, listenOut.String(), listenErr.String())
		}
	}
	var body struct {
		Type string `json:"type"`
		Data struct {
			InvoiceID string `json:"invoice_id"`
			Status    string `json:"status"`
			Amount    string `json:"amount"`
			Currency  string `json:"currency"`
		} `json:"data"`
	}
	if err := json.Unmarshal(settled.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Type != "invoice.settled" || body.Data.InvoiceID != invoiceID || body.Data.Status != "settled" ||
		body.Data.Amount != triggerAmount || body.Data.Currency != "BTC" || settled.header.Get(webhooksig.HeaderEventType) != "invoice.settled" {
		t.Errorf("forwarded settlement: %s (type header %q)", settled.body, settled.header.Get(webhooksig.HeaderEventType))
	}
	if err := webhooksig.VerifyLegacy(settled.body, settled.header.Get(webhooksig.HeaderLegacySignature), secret.Load().(string)); err != nil {
		t.Errorf("legacy signature header: %v", err)
	}

	// The gateway's log holds the same bytes and the shop's own status.
	deliveryID := settled.header.Get(webhooksig.HeaderDeliveryID)
	var d struct {
		RequestBody string `json:"request_body"`
		Attempts    []struct {
			StatusCode int `json:"status_code"`
		} `json:"attempts"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(d.Attempts) == 0 && time.Now().Before(deadline) {
		if err := getJSON(ctx, st.API+"/v1/webhook_deliveries/"+deliveryID, k.Secret, &d); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // polling interval, not synchronisation
	}
	if d.RequestBody != string(settled.body) {
		t.Errorf("forwarded body differs from the gateway's:\n%s\n%s", settled.body, d.RequestBody)
	}
	if len(d.Attempts) != 1 || d.Attempts[0].StatusCode != http.StatusAccepted {
		t.Errorf("the gateway recorded %+v, want one attempt answered 202 (the shop's code)", d.Attempts)
	}
	want := "[202] POST " + shop.URL + "/webhooks (" // then the latency
	waitFor(t, 5*time.Second, "listen to print the settlement and the shop's answer", func() bool {
		return strings.Contains(listenOut.String(), "--> invoice.settled") && strings.Contains(listenOut.String(), want)
	})

	// Every other event the sandbox can be driven to: trigger checks that
	// the gateway wrote it, and the shop gets it, verified. The two that
	// wait out an invoice's minute run beside the others.
	trigger := func(event string) (string, error) {
		var out, errOut syncBuffer
		if code := Run(ctx, []string{"trigger", event}, Env{Getenv: getenv, Stdout: &out, Stderr: &errOut}); code != 0 {
			return "", fmt.Errorf("trigger %s: exit %d\n%s%s", event, code, out.String(), errOut.String())
		}
		m := regexp.MustCompile(`triggered ` + regexp.QuoteMeta(event) + `: event (evt_\S+)`).FindStringSubmatch(out.String())
		if m == nil {
			return "", fmt.Errorf("trigger %s named no event:\n%s", event, out.String())
		}
		return m[1], nil
	}
	type result struct {
		event, id string
		err       error
	}
	slow := make(chan result, 2)
	for _, event := range []string{"invoice.expired", "invoice.paid_late"} {
		go func() { id, err := trigger(event); slow <- result{event, id, err} }()
	}
	var ids []result
	for _, tg := range triggers {
		if tg.event == "invoice.settled" || tg.event == "invoice.expired" || tg.event == "invoice.paid_late" {
			continue
		}
		id, err := trigger(tg.event)
		ids = append(ids, result{tg.event, id, err})
	}
	ids = append(ids, <-slow, <-slow)
	wantEvents := map[string]string{} // event id → type
	for _, r := range ids {
		if r.err != nil {
			t.Error(r.err)
			continue
		}
		wantEvents[r.id] = r.event
	}
	waitForwarded(t, got, wantEvents)

	// Ctrl-C: listen ends cleanly and its endpoint is gone.
	ctrlC()
	select {
	case err := <-listenDone:
		if err != nil {
			t.Fatalf("listen after Ctrl-C: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("listen did not stop within 30s of Ctrl-C")
	}
	l, err := api.ListWebhookEndpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range l.Data {
		if e.ID == endpointID {
			t.Errorf("endpoint %s still registered after Ctrl-C", endpointID)
		}
	}
	if !strings.Contains(listenErr.String(), "removed the temporary endpoint "+endpointID) {
		t.Errorf("listen did not say it removed its endpoint:\n%s", listenErr.String())
	}
}

// waitForwarded waits until the shop got every event of want (id →
// type), each verified and with its type header, in any order.
func waitForwarded(t *testing.T, got <-chan forwarded, want map[string]string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for len(want) > 0 {
		select {
		case f := <-got:
			if f.err != nil {
				t.Fatalf("the shop could not verify a forwarded delivery: %v", f.err)
			}
			id := f.header.Get(webhooksig.HeaderEventID)
			if typ, ok := want[id]; ok {
				if f.header.Get(webhooksig.HeaderEventType) != typ {
					t.Errorf("event %s forwarded as %q, want %s", id, f.header.Get(webhooksig.HeaderEventType), typ)
				}
				delete(want, id)
			}
		case <-timeout:
			t.Errorf("never reached the shop: %v", want)
			return
		}
	}
}

// waitSandbox waits for the in-process sandbox's state file.
func waitSandbox(t *testing.T, ctx context.Context, dir string, done <-chan error, out *syncBuffer) *devnet.State {
	t.Helper()
	for {
		if st, err := devnet.ReadState(dir); err == nil {
			return st
		} else if !errors.Is(err, devnet.ErrNotRunning) {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("sandbox stopped while starting: %v\n%s", err, out.String())
		case <-ctx.Done():
			t.Fatalf("sandbox not ready: %v\n%s", ctx.Err(), out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func getJSON(ctx context.Context, url, key string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return errors.New(url + ": " + resp.Status + ": " + string(b))
	}
	return json.Unmarshal(b, out)
}
