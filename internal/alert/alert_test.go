package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver records the JSON bodies POSTed to it.
type receiver struct {
	mu     sync.Mutex
	bodies []map[string]any
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &m) != nil {
		http.Error(w, "bad", 400)
		return
	}
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, m)
	rc.mu.Unlock()
}

func (rc *receiver) got() []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]map[string]any(nil), rc.bodies...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAlertIsLoggedAndPosted(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	a := New(Config{WebhookURL: srv.URL, Logger: log})
	defer a.Close()
	a.Alert(context.Background(), Alert{Severity: Critical, Title: "Settled invoice reorged out", Text: "inv_1 lost its payment",
		Fields: map[string]string{"txid": "ab12", "depth": "7"}})
	waitFor(t, "the POST", func() bool { s, _, _ := a.Stats(); return s == 1 })
	want := "[CRITICAL] Settled invoice reorged out\ninv_1 lost its payment\ndepth: 7\ntxid: ab12"
	if b := rc.got(); len(b) != 1 || b[0]["text"] != want || len(b[0]) != 1 {
		t.Errorf("receiver got %v, want exactly {\"text\": %q}", b, want)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "field.txid=ab12") {
		t.Errorf("log lacks the ERROR line: %s", logs.String())
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestAlertNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	a := New(Config{WebhookURL: srv.URL, QueueSize: 2, Timeout: time.Minute})
	start := time.Now()
	for range 10 {
		a.Alert(context.Background(), Alert{Title: "x"})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("10 alerts to a hung receiver took %v", d)
	}
	// One is in flight, two wait, the rest are dropped (the sender may not
	// have picked up the first yet, so 7 or 8).
	_, _, dropped := a.Stats()
	if dropped < 7 || dropped > 8 {
		t.Errorf("dropped %d, want 7 or 8", dropped)
	}
	done := make(chan struct{})
	go func() { a.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs on a hung receiver")
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestFailedPostsAreCounted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) }))
	defer srv.Close()
	a := New(Config{WebhookURL: srv.URL})
	defer a.Close()
	a.Alert(context.Background(), Alert{Title: "x"})
	waitFor(t, "the failure", func() bool { _, f, _ := a.Stats(); return f == 1 })
}

func TestWithoutURLOnlyLogs(t *testing.T) {
	var nilAlerter *Alerter
	nilAlerter.Alert(context.Background(), Alert{Title: "ignored"})
	a := New(Config{})
	a.Alert(context.Background(), Alert{Title: "logged"})
	if s, f, d := a.Stats(); s+f+d != 0 {
		t.Errorf("stats %d %d %d without a URL", s, f, d)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}
