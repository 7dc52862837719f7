package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/postgres"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// cutProxy is a TCP proxy on loopback in front of a real PostgreSQL that
// a test can cut (every open connection closed, new ones refused) and
// restore: the database "restarting" as a gateway sees it.
type cutProxy struct {
	ln       net.Listener
	upstream string
	down     atomic.Bool
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

func startCutProxy(tb testing.TB, upstream string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &cutProxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	tb.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				c.Close()
				continue
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			p.track(c, u)
			go func() { _, _ = io.Copy(u, c); u.Close(); c.Close() }()
			go func() { _, _ = io.Copy(c, u); u.Close(); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

// cut closes every proxied connection and refuses new ones.
func (p *cutProxy) cut() {
	p.down.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) restore() { p.down.Store(false) }

// TestDatabaseOutageAnswers503: with PostgreSQL unreachable the API
// answers 503 database_unavailable with Retry-After (not 500
// internal_error), /readyz says the database is unreachable, and both
// recover when it is back.
func TestDatabaseOutageAnswers503(t *testing.T) {
	raw := testdb.PostgresURL(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startCutProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	db, err := postgres.Open(t.Context(), u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, engine{"postgres behind a proxy", func(testing.TB) storage.DB { return db }}, false)

	do := func(method, path, body string) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), method, e.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.secret)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := e.httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp, m
	}
	resp, inv := do("POST", "/v1/invoices", `{"order_id":"1","amount":"0.001","currency":"BTC"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create with the database up: %d %v", resp.StatusCode, inv)
	}
	id, _ := inv["id"].(string)

	proxy.cut()
	for _, c := range []struct{ name, method, path, body string }{
		{"create", "POST", "/v1/invoices", `{"order_id":"2","amount":"0.001","currency":"BTC"}`},
		{"read", "GET", "/v1/invoices/" + id, ""},
		{"list", "GET", "/v1/invoices?limit=5", ""},
	} {
		resp, body := do(c.method, c.path, c.body)
		errObj, _ := body["error"].(map[string]any)
		if resp.StatusCode != http.StatusServiceUnavailable || errObj["code"] != "database_unavailable" {
			t.Errorf("%s with the database down: %d %v; want 503 database_unavailable", c.name, resp.StatusCode, body)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s with the database down: no Retry-After", c.name)
		}
		if msg, _ := errObj["message"].(string); strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, "dial") {
			t.Errorf("%s: the message leaks driver detail: %q", c.name, msg)
		}
	}
	resp, body := do("GET", "/readyz", "")
	checks, _ := body["checks"].(map[string]any)
	if resp.StatusCode != http.StatusServiceUnavailable || checks["database"] != "unreachable" {
		t.Errorf("readyz with the database down: %d %v; want 503, database unreachable", resp.StatusCode, body)
	}

	proxy.restore()
	if resp, body := do("GET", "/v1/invoices/"+id, ""); resp.StatusCode != 200 {
		t.Errorf("read after the database came back: %d %v", resp.StatusCode, body)
	}
	if resp, body := do("GET", "/readyz", ""); resp.StatusCode != 200 {
		t.Errorf("readyz after the database came back: %d %v", resp.StatusCode, body)
	}
}
