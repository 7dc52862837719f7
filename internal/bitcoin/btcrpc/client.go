// Package btcrpc is the gateway's connection to a Bitcoin node: a JSON-RPC
// 1.0 client over HTTP restricted to the calls Bitcoin Core and btcd both
// serve, plus btcd's websocket notifications as a wake-up hint.
//
// It is not a wallet, not a tracker and not a block parser: raw blocks and
// transactions are fetched as bytes (getblock verbosity 0,
// getrawtransaction non-verbose) and decoded by package btcblock, so the same
// code runs against either node. Notifications only say "something changed";
// callers re-read state by RPC, so a dropped or repeated notification is
// harmless. The client never logs, and never puts the RPC password or cookie
// into an error.
package btcrpc

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
)

// Defaults for the zero values of Config.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 256 << 20 // a mainnet mempool listing is ~25 MB
	DefaultFallbackFeeRate  = 20_000    // sat/kvB; Bitcoin Core's own -fallbackfee
)

// ErrUnsupported reports that the node does not offer a call or a feature
// (gettxspendingprevout before Bitcoin Core 24, websocket notifications on
// Bitcoin Core). Callers fall back to polling.
var ErrUnsupported = errors.New("btcrpc: not supported by this node")

// ErrWrongNetwork reports that the node serves a different chain than the
// configured one.
var ErrWrongNetwork = errors.New("btcrpc: node is on a different network")

// RPCError is an error the node itself returned for a call (for example
// -5 "No such mempool or blockchain transaction", -8 or -1 for a height
// out of range, -26/-25 for a rejected transaction).
type RPCError struct {
	Method  string
	Code    int
	Message string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("btcrpc: %s: node error %d: %s", e.Method, e.Code, e.Message)
}

// JSON-RPC "method not found", returned by both nodes for calls they lack.
const codeMethodNotFound = -32601

// TransportError is a call that produced no JSON-RPC answer: the
// connection failed, the context ended (Err wraps context.Canceled or
// context.DeadlineExceeded), or the server answered with an HTTP status
// and no JSON-RPC body (Status, e.g. 401 for wrong credentials).
type TransportError struct {
	Method string
	Status int // HTTP status, 0 when none arrived
	Err    error
}

func (e *TransportError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("btcrpc: %s: HTTP %d: %v", e.Method, e.Status, e.Err)
	}
	return fmt.Sprintf("btcrpc: %s: %v", e.Method, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// ResponseError is an answer the client cannot accept: invalid JSON, a
// mismatched id, a missing result, a value of the wrong type or shape (a
// hash that is not 64 hex digits, a block whose hash is not the one asked
// for), or a body over the size limit.
type ResponseError struct {
	Method string
	Reason string
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("btcrpc: %s: bad response: %s", e.Method, e.Reason)
}

// Config configures a Client. URL and Params are required.
type Config struct {
	// URL is the node's RPC endpoint, http://host:port or https://...
	// Credentials embedded in it are used and then removed from it.
	URL string
	// User and Password are the RPC credentials.
	User, Password string
	// CookieFile is Bitcoin Core's .cookie ("__cookie__:password"), used
	// when User is empty. It is re-read on every call because the node
	// rewrites it on restart.
	CookieFile string
	// Params is the network the node must serve (see CheckNetwork).
	Params *chaincfg.Params
	// Timeout bounds each call; zero means DefaultTimeout.
	Timeout time.Duration
	// HTTPClient sends requests; nil means a client private to this Client.
	HTTPClient *http.Client
	// WebsocketURL is btcd's notification endpoint; empty means the RPC
	// URL with scheme ws/wss and path /ws.
	WebsocketURL string
	// FallbackFeeRate (sat/kvB) is what EstimateFee returns when the node
	// cannot estimate; zero means DefaultFallbackFeeRate.
	FallbackFeeRate int64
	// MaxResponseBytes caps a response body; zero means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// OnError, if set, is told of every failed call: its method and kind,
	// "node" (an RPCError), "transport" (a TransportError) or "response"
	// (a ResponseError). Metrics count them; it must not block.
	OnError func(method, kind string)
}

// Client talks to one node. It is safe for concurrent use.
type Client struct {
	url      string // without credentials
	wsURL    string
	user     string
	password string
	cookie   string
	params   *chaincfg.Params
	timeout  time.Duration
	http     *http.Client
	fallback int64
	maxBody  int64
	nextID   atomic.Uint64
	onError  func(method, kind string)
}

// New checks cfg and returns a Client. It does not contact the node (see
// CheckNetwork). It returns an error for a missing or malformed URL, a
// scheme other than http or https, or missing Params.
func New(cfg Config) (*Client, error) {
	if cfg.Params == nil {
		return nil, errors.New("btcrpc: Config.Params is required")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		// url.Parse echoes its input, which may hold a password.
		return nil, errors.New("btcrpc: Config.URL is not a valid URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("btcrpc: Config.URL must be http(s)://host:port")
	}
	c := &Client{
		user:     cfg.User,
		password: cfg.Password,
		cookie:   cfg.CookieFile,
		params:   cfg.Params,
		timeout:  cmp.Or(cfg.Timeout, DefaultTimeout),
		http:     cfg.HTTPClient,
		fallback: cmp.Or(cfg.FallbackFeeRate, DefaultFallbackFeeRate),
		maxBody:  cmp.Or(cfg.MaxResponseBytes, DefaultMaxResponseBytes),
		onError:  cfg.OnError,
	}
	if u.User != nil && c.user == "" {
		c.user = u.User.Username()
		c.password, _ = u.User.Password()
	}
	u.User = nil
	c.url = u.String()
	if c.http == nil {
		c.http = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	c.wsURL = cfg.WebsocketURL
	if c.wsURL == "" {
		ws := *u
		ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
		ws.Path = "/ws"
		ws.RawQuery = ""
		c.wsURL = ws.String()
	}
	return c, nil
}

// Params returns the network the client was configured for.
func (c *Client) Params() *chaincfg.Params { return c.params }

// credentials returns the basic-auth pair for the next request.
func (c *Client) credentials() (string, string, error) {
	if c.user != "" || c.cookie == "" {
		return c.user, c.password, nil
	}
	b, err := os.ReadFile(c.cookie)
	if err != nil {
		// The error names the path only, never the contents.
		return "", "", fmt.Errorf("read cookie file: %w", err)
	}
	user, pass, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !ok || user == "" {
		return "", "", errors.New("cookie file is not user:password")
	}
	return user, pass, nil
}

type request struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

type response struct {
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
	ID     json.RawMessage `json:"id"`
}

type rpcErrorBody struct {
	Code    *int   `json:"code"`
	Message string `json:"message"`
}

// call performs one JSON-RPC call and decodes its result into out, which
// must be a pointer. A null result is a ResponseError: every call this
// package makes expects a value.
func (c *Client) call(ctx context.Context, method string, params []any, out any) error {
	err := c.callOnce(ctx, method, params, out)
	if err != nil && c.onError != nil {
		c.onError(method, errorKind(err))
	}
	return err
}

// errorKind names a call's failure for Config.OnError.
func errorKind(err error) string {
	switch {
	case errors.As(err, new(*RPCError)):
		return "node"
	case errors.As(err, new(*TransportError)):
		return "transport"
	case errors.As(err, new(*ResponseError)):
		return "response"
	}
	return "other"
}

func (c *Client) callOnce(ctx context.Context, method string, params []any, out any) error {
	if params == nil {
		params = []any{}
	}
	id := c.nextID.Add(1)
	body, err := json.Marshal(request{JSONRPC: "1.0", ID: id, Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("btcrpc: %s: encode params: %w", method, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return &TransportError{Method: method, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	user, pass, err := c.credentials()
	if err != nil {
		return &TransportError{Method: method, Err: err}
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &TransportError{Method: method, Err: transportCause(ctx, err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return &TransportError{Method: method, Status: resp.StatusCode, Err: transportCause(ctx, err)}
	}
	if int64(len(raw)) > c.maxBody {
		return &ResponseError{Method: method, Reason: fmt.Sprintf("body exceeds %d bytes", c.maxBody)}
	}
	return decodeResponse(method, id, resp.StatusCode, raw, out)
}

// transportCause prefers the context's error, so callers can test for
// context.DeadlineExceeded with errors.Is whatever net/http wrapped it in.
func transportCause(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err // drop the URL: it is noise, and could carry secrets
	}
	return err
}

// decodeResponse turns one HTTP response body into out or a typed error.
// Bitcoin Core sends node errors with HTTP 404 or 500 and a JSON-RPC body;
// btcd sends them with 200; both send 401 with no JSON for bad
// credentials. So the body decides when it is JSON-RPC, the status
// otherwise.
func decodeResponse(method string, id uint64, status int, raw []byte, out any) error {
	var r response
	if err := json.Unmarshal(raw, &r); err != nil || (r.Result == nil && r.Error == nil) {
		if status != http.StatusOK {
			return &TransportError{Method: method, Status: status, Err: errors.New(http.StatusText(status))}
		}
		return &ResponseError{Method: method, Reason: "not a JSON-RPC response"}
	}
	if len(r.Error) > 0 && string(r.Error) != "null" {
		var e rpcErrorBody
		if err := json.Unmarshal(r.Error, &e); err != nil || e.Code == nil {
			return &ResponseError{Method: method, Reason: "malformed error object"}
		}
		return &RPCError{Method: method, Code: *e.Code, Message: e.Message}
	}
	var gotID uint64
	if err := json.Unmarshal(r.ID, &gotID); err != nil || gotID != id {
		return &ResponseError{Method: method, Reason: "response id does not match request"}
	}
	if len(r.Result) == 0 || string(r.Result) == "null" {
		return &ResponseError{Method: method, Reason: "null result"}
	}
	if err := json.Unmarshal(r.Result, out); err != nil {
		return &ResponseError{Method: method, Reason: "result: " + err.Error()}
	}
	return nil
}

// unsupported maps "method not found" to ErrUnsupported.
func unsupported(err error) error {
	var re *RPCError
	if errors.As(err, &re) && re.Code == codeMethodNotFound {
		return fmt.Errorf("%w: %s", ErrUnsupported, re.Method)
	}
	return err
}
