package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPprofListener: the admin listener serves profiles while it runs,
// and closes with its context.
func TestPprofListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	wait, err := startPprof(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("GET goroutine profile = %d %.80q", resp.StatusCode, body)
	}
	cancel()
	wait()
	c := http.Client{Timeout: 2 * time.Second}
	if _, err := c.Get("http://" + addr + "/debug/pprof/"); err == nil {
		t.Fatal("the admin listener still answers after its context ended")
	}
	// Off by default: no address, no listener, and nothing to wait for.
	w, err := startPprof(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	w()
}
