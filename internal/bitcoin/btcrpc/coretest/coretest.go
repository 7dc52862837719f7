// Package coretest serves recorded Bitcoin Core answers over JSON-RPC, for
// tests of the gateway's node client and of what it concludes from them.
//
// The answers (testdata/v26.json, v28.json, v29.json) are Bitcoin Core
// 26, 28 and 29 on a regtest node at its genesis block, written from each
// release's RPC help and functional tests: result shapes, HTTP statuses
// (200; 404 for an unknown method; 500 for any other error) and error
// codes. The server checks the parameters of every call against the
// recorded ones, so a test fails if the gateway asks differently (a
// getblock without verbosity 0, say). It is not a node: it holds no state.
package coretest

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
)

//go:embed testdata/*.json
var files embed.FS

// Versions are the recorded Bitcoin Core major versions.
var Versions = []int{26, 28, 29}

// Case is one recorded call and its answer.
type Case struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Status int             `json:"status"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// Recording is one version's answers by case name. The case named like a
// method is that method's normal answer.
type Recording struct {
	Version string          `json:"version"`
	Cases   map[string]Case `json:"cases"`
}

// Load reads the recording of a major version.
func Load(major int) (*Recording, error) {
	b, err := files.ReadFile(fmt.Sprintf("testdata/v%d.json", major))
	if err != nil {
		return nil, err
	}
	var r Recording
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&struct {
		Comment string `json:"_comment"`
		*Recording
	}{Recording: &r}); err != nil {
		return nil, fmt.Errorf("coretest: v%d.json: %w", major, err)
	}
	return &r, nil
}

// Server answers JSON-RPC calls from a recording.
type Server struct {
	*httptest.Server
	rec *Recording
	// Auth decides whether a request's credentials are accepted; nil
	// accepts any. Core answers a refused one with a bare 401.
	Auth func(user, password string) bool

	mu       sync.Mutex
	override map[string]string // method → case name
	calls    []string
}

// NewServer starts a server for the recording of major; it stops when the
// test ends.
func NewServer(t testing.TB, major int) *Server {
	t.Helper()
	rec, err := Load(major)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{rec: rec, override: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Use makes method answer with the named case (an error shape, a pruned
// or syncing node) until changed; an empty name restores the normal one.
func (s *Server) Use(method, caseName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if caseName == "" {
		delete(s.override, method)
		return
	}
	s.override[method] = caseName
}

// Calls returns the methods called so far, in order.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// Recording returns the recording the server answers from.
func (s *Server) Recording() *Recording { return s.rec }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, _ := r.BasicAuth()
	if s.Auth != nil && !s.Auth(user, pass) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusInternalServerError, nil, []byte(`{"code":-32700,"message":"Parse error"}`), []byte("null"))
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, req.Method)
	name := s.override[req.Method]
	s.mu.Unlock()
	if name == "" {
		name = req.Method
	}
	c, ok := s.rec.Cases[name]
	if !ok || c.Method != req.Method {
		writeJSON(w, http.StatusNotFound, nil, []byte(`{"code":-32601,"message":"Method not found"}`), req.ID)
		return
	}
	if c.Params != nil && !sameJSON(c.Params, req.Params) {
		// What Core says for parameters it cannot use; the test then
		// fails on the unexpected error.
		msg, _ := json.Marshal(fmt.Sprintf("coretest: %s called with params %s, recorded %s", req.Method, orEmpty(req.Params), c.Params))
		writeJSON(w, http.StatusInternalServerError, nil, []byte(`{"code":-8,"message":`+string(msg)+`}`), req.ID)
		return
	}
	writeJSON(w, c.Status, c.Result, c.Error, req.ID)
}

func writeJSON(w http.ResponseWriter, status int, result, errObj, id json.RawMessage) {
	if len(result) == 0 {
		result = []byte("null")
	}
	if len(errObj) == 0 {
		errObj = []byte("null")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"result":%s,"error":%s,"id":%s}`+"\n", result, errObj, id)
}

func orEmpty(p json.RawMessage) string {
	if len(p) == 0 {
		return "[]"
	}
	return string(p)
}

// sameJSON compares two JSON values structurally; a missing params is an
// empty list, as both nodes read it.
func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal([]byte(orEmpty(a)), &x) != nil || json.Unmarshal([]byte(orEmpty(b)), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// CaseNames returns the recording's case names, sorted.
func (r *Recording) CaseNames() []string {
	var out []string
	for k := range r.Cases {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Result decodes a case's result into v.
func (r *Recording) Result(name string, v any) error {
	c, ok := r.Cases[name]
	if !ok {
		return fmt.Errorf("coretest: no case %q", name)
	}
	return json.Unmarshal(c.Result, v)
}
