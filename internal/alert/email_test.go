package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mailpit starts a real SMTP server, the mailpit version pinned as a tool
// in go.mod, on free loopback ports, and returns its SMTP address and
// the base URL of its HTTP API. The process is stopped when the test ends.
func mailpit(t *testing.T) (smtpAddr, api string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs mailpit")
	}
	out, err := exec.Command("go", "tool", "-n", "mailpit").Output()
	if err != nil {
		t.Fatalf("go tool -n mailpit: %v", err)
	}
	bin := strings.TrimSpace(string(out))
	smtpAddr, httpAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "--smtp", smtpAddr, "--listen", httpAddr, "--database", filepath.Join(t.TempDir(), "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns", "--quiet")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	api = "http://" + httpAddr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(api + "/api/v1/messages")
		if err == nil {
			resp.Body.Close()
			if c, err := net.Dial("tcp", smtpAddr); err == nil {
				c.Close()
				return smtpAddr, api
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type mailpitMessage struct {
	ID      string
	Subject string
	From    struct{ Address string }
	To      []struct{ Address string }
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestEmailSinkDeliversToARealSMTPServer: a critical alert reaches every
// emergency contact through a real SMTP server, with its title, text and
// fields; a warning is not mailed. Read back through mailpit's API.
func TestEmailSinkDeliversToARealSMTPServer(t *testing.T) {
	smtpAddr, api := mailpit(t)
	sink, err := NewEmail(EmailConfig{Addr: smtpAddr, From: "gateway@shop.example", TLS: "none",
		To: []string{"security@shop.example", "oncall@shop.example"}})
	if err != nil {
		t.Fatal(err)
	}
	a := New(Config{Sinks: []Sink{sink}})
	a.Alert(context.Background(), Alert{Severity: Warning, Title: "not mailed", Text: "a warning"})
	a.Alert(context.Background(), Alert{Severity: Critical, Title: "Incident: gateway frozen", Text: "No new live invoices.",
		Fields: map[string]string{"actor": "operator"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a.Drain(ctx)
	a.Close()
	if sent, failed, _ := a.Stats(); sent != 1 || failed != 0 {
		t.Fatalf("sent %d, failed %d; want 1 and 0", sent, failed)
	}
	var list struct{ Messages []mailpitMessage }
	getJSON(t, api+"/api/v1/messages", &list)
	if len(list.Messages) != 1 {
		t.Fatalf("mailpit holds %d messages, want 1: %+v", len(list.Messages), list.Messages)
	}
	m := list.Messages[0]
	if m.Subject != "[CRITICAL] CryptoPay: Incident: gateway frozen" || m.From.Address != "gateway@shop.example" {
		t.Fatalf("message = %+v", m)
	}
	var to []string
	for _, r := range m.To {
		to = append(to, r.Address)
	}
	if fmt.Sprint(to) != "[security@shop.example oncall@shop.example]" {
		t.Fatalf("recipients = %v", to)
	}
	var full struct{ Text string }
	getJSON(t, api+"/api/v1/message/"+m.ID, &full)
	for _, want := range []string{"No new live invoices.", "actor: operator"} {
		if !strings.Contains(full.Text, want) {
			t.Errorf("body %q lacks %q", full.Text, want)
		}
	}
}

// TestEmailSinkReportsAFailedDelivery: a server that is not there counts
// as a failure, not a silent success.
func TestEmailSinkReportsAFailedDelivery(t *testing.T) {
	sink, err := NewEmail(EmailConfig{Addr: freeAddr(t), From: "gateway@shop.example", TLS: "none",
		To: []string{"security@shop.example"}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a := New(Config{Sinks: []Sink{sink}})
	a.Alert(context.Background(), Alert{Severity: Critical, Title: "x"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.Drain(ctx)
	a.Close()
	if sent, failed, _ := a.Stats(); sent != 0 || failed != 1 {
		t.Fatalf("sent %d, failed %d; want 0 and 1", sent, failed)
	}
}

func TestNewEmailRefusesBadConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  EmailConfig
	}{
		{"no port", EmailConfig{Addr: "localhost", To: []string{"a@b.c"}}},
		{"bad port", EmailConfig{Addr: "localhost:0", To: []string{"a@b.c"}}},
		{"no recipients", EmailConfig{Addr: "localhost:25"}},
	} {
		if _, err := NewEmail(c.cfg); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}
