package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/webhooksig"
)

// hookReceiver records the webhook requests a test's gateway sends.
type hookReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs, h.body = append(h.reqs, r), append(h.body, b)
		h.mu.Unlock()
		_, _ = io.WriteString(w, "thanks")
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) got() ([]*http.Request, [][]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*http.Request(nil), h.reqs...), append([][]byte(nil), h.body...)
}

// field returns the value printed after "name:" in a command's output.
func field(t *testing.T, out, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `:\s+(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in output:\n%s", name, out)
	}
	return m[1]
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWebhooksCommands drives the operator's webhook workflow on a real
// SQLite database: create (secret shown once), list, show, update,
// validation errors naming the field, a test event and a redelivery that a
// running `serve` sends, the delivery log with the exact body and every
// attempt, secret rotation, delete, and the audit entries of each change.
func TestWebhooksCommands(t *testing.T) {
	dir := t.TempDir()
	e := &secEnv{t: t, vars: map[string]string{
		"CRYPTOPAY_DATA_DIR":  dir,
		"CRYPTOPAY_LISTEN":    "127.0.0.1:0",
		"CRYPTOPAY_LOG_LEVEL": "error",
		// The receiver is an httptest server on loopback.
		"CRYPTOPAY_WEBHOOK_ALLOW_LOOPBACK": "true",
	}}
	e.must("migrate")
	vpub := regtestAccountKey(t)
	var st struct{ ID string }
	if err := json.Unmarshal([]byte(e.must("stores", "create", "--name", "shop", "--account-key", vpub, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	rec := newHookReceiver(t)

	for _, c := range []struct {
		name  string
		args  []string
		code  int
		inErr string
	}{
		{"no subcommand", []string{"webhooks"}, 2, "want: webhooks"},
		{"unknown subcommand", []string{"webhooks", "frob"}, 2, "unknown webhooks command"},
		{"create without store", []string{"webhooks", "create", "--url", rec.srv.URL}, 2, "--store is required"},
		{"create live on a test store", []string{"webhooks", "create", "--store", st.ID, "--live", "--url", "https://example.com/"}, 1, "(live)"},
		{"create without url", []string{"webhooks", "create", "--store", st.ID}, 1, "(url)"},
		{"create with a bad url", []string{"webhooks", "create", "--store", st.ID, "--url", "ftp://example.com/"}, 1, "(url)"},
		{"create with an unknown event", []string{"webhooks", "create", "--store", st.ID, "--url", rec.srv.URL, "--events", "invoice.nope"}, 1, "(enabled_events)"},
		{"show without id", []string{"webhooks", "show"}, 2, "want: webhooks show"},
		{"show with another kind of id", []string{"webhooks", "show", "inv_01aaaaaaaaaaaaaaaaaaaaaaaa"}, 1, "not a webhook endpoint id"},
		{"show unknown endpoint", []string{"webhooks", "show", "we_01aaaaaaaaaaaaaaaaaaaaaaaa"}, 1, "No such webhook endpoint"},
		{"delivery unknown", []string{"webhooks", "delivery", "wd_01aaaaaaaaaaaaaaaaaaaaaaaa"}, 1, "No such webhook delivery"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := e.run(c.args...)
			if code != c.code || !strings.Contains(errs, c.inErr) {
				t.Errorf("exit %d (want %d), stderr %q (want it to contain %q)", code, c.code, errs, c.inErr)
			}
		})
	}

	out := e.must("webhooks", "create", "--store", st.ID, "--url", rec.srv.URL+"/hook", "--events", "invoice.settled,invoice.expired", "--description", "orders")
	id, secret := field(t, out, "id"), field(t, out, "secret")
	if !strings.HasPrefix(secret, "whsec_") || !strings.Contains(out, "invoice.settled,invoice.expired") {
		t.Fatalf("create printed:\n%s", out)
	}
	if out := e.must("webhooks", "show", id); strings.Contains(out, "whsec_") || field(t, out, "url") != rec.srv.URL+"/hook" {
		t.Errorf("show printed a secret or the wrong url:\n%s", out)
	}
	if out := e.must("webhooks", "list", "--store", st.ID); !strings.Contains(out, id) || strings.Contains(out, "whsec_") {
		t.Errorf("list:\n%s", out)
	}
	if code, _, errs := e.run("webhooks", "update", id); code != 2 || !strings.Contains(errs, "nothing to change") {
		t.Errorf("update with no flags: exit %d %s", code, errs)
	}
	if code, _, errs := e.run("webhooks", "update", id, "--url", "not a url"); code != 1 || !strings.Contains(errs, "(url)") {
		t.Errorf("update to a bad url: exit %d %s", code, errs)
	}
	if out := e.must("webhooks", "update", id, "--enabled=false"); !strings.Contains(out, "state:        disabled") {
		t.Errorf("update --enabled=false:\n%s", out)
	}
	out = e.must("webhooks", "update", id, "--enabled=true", "--events", "*")
	if !strings.Contains(out, "state:        enabled") || field(t, out, "events") != "*" {
		t.Errorf("update --enabled=true --events '*':\n%s", out)
	}

	// A test event queued by the command line is sent by the running gateway.
	out = e.must("webhooks", "test", id)
	wd := regexp.MustCompile(`wd_[0-9a-z]+`).FindString(out)
	if wd == "" {
		t.Fatalf("test printed no delivery id:\n%s", out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan int, 1)
	go func() { c, _, _ := e.runCtx(ctx, "serve"); served <- c }()
	defer func() {
		cancel()
		select {
		case <-served:
		case <-time.After(time.Minute):
			t.Error("serve did not stop")
		}
	}()
	waitFor(t, 30*time.Second, "the test event at the receiver", func() bool {
		for _, r := range first(rec.got()) {
			if r.Header.Get(webhooksig.HeaderDeliveryID) == wd {
				return true
			}
		}
		return false
	})
	reqs, bodies := rec.got()
	var body []byte
	for i, r := range reqs {
		if r.Header.Get(webhooksig.HeaderDeliveryID) == wd {
			body = bodies[i]
			if err := webhooksig.Verify(body, r.Header.Get(webhooksig.HeaderSignature), secret); err != nil {
				t.Errorf("the printed secret does not verify the delivery: %v", err)
			}
		}
	}
	waitFor(t, 30*time.Second, "the delivery recorded as succeeded", func() bool {
		return strings.Contains(e.must("webhooks", "deliveries", id, "--status", "succeeded"), wd)
	})
	out = e.must("webhooks", "delivery", wd)
	if !strings.Contains(out, "body:\n"+string(body)+"\n") || !regexp.MustCompile(`#1 .* HTTP 200`).MatchString(out) ||
		!strings.Contains(out, "response: thanks") {
		t.Errorf("delivery does not show the exact body and the attempt:\n%s", out)
	}

	out = e.must("webhooks", "redeliver", wd)
	wd2 := regexp.MustCompile(`queued (wd_[0-9a-z]+)`).FindStringSubmatch(out)
	if wd2 == nil || wd2[1] == wd {
		t.Fatalf("redeliver printed:\n%s", out)
	}
	waitFor(t, 30*time.Second, "the redelivery at the receiver", func() bool {
		reqs, bodies := rec.got()
		for i, r := range reqs {
			if r.Header.Get(webhooksig.HeaderDeliveryID) == wd2[1] {
				return string(bodies[i]) == string(body)
			}
		}
		return false
	})

	out = e.must("webhooks", "rotate-secret", id, "--overlap", "1h")
	if s2 := field(t, out, "secret"); s2 == secret || !strings.HasPrefix(s2, "whsec_") || !strings.Contains(out, "also signs until") {
		t.Errorf("rotate-secret:\n%s", out)
	}
	if out := e.must("webhooks", "delete", id); !strings.Contains(out, "deleted "+id) {
		t.Errorf("delete: %s", out)
	}
	if code, _, _ := e.run("webhooks", "show", id); code != 1 {
		t.Errorf("show after delete: exit %d", code)
	}
	audit := e.must("audit", "list", "--store", st.ID, "--limit", "100")
	for _, action := range []string{"webhook_endpoint.created", "webhook_endpoint.updated", "webhook_endpoint.secret_rotated", "webhook_endpoint.deleted"} {
		if !regexp.MustCompile(action + `\s+` + id + `\s+actor operator`).MatchString(audit) {
			t.Errorf("no %s entry by the operator for %s:\n%s", action, id, audit)
		}
	}
	if out := e.must("audit", "verify"); !strings.Contains(out, "intact") {
		t.Errorf("audit verify: %s", out)
	}
}

func first[A, B any](a A, _ B) A { return a }

func (e *secEnv) runCtx(ctx context.Context, args ...string) (int, string, string) {
	var out, errb strings.Builder
	code := Run(ctx, args, Env{Getenv: func(k string) string { return e.vars[k] }, Stdout: &syncWriter{w: &out}, Stderr: &syncWriter{w: &errb}})
	return code, out.String(), errb.String()
}

// syncWriter lets a command running in a goroutine write while the test
// reads nothing from it until it ends.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
