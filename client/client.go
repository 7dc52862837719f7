// Package client is the Go client for the CryptoPay merchant REST API: a
// shop uses it to create invoices, read them and their events, and manage
// its own API keys.
//
// It is a thin, typed layer over HTTP and JSON. It does not retry requests
// on its own (pass an idempotency key and retry yourself, so a retry can
// never create a second invoice), does not verify webhooks (see the
// webhooksig package) and holds no state besides its configuration. Amounts
// are decimal strings exactly as the API sends them; the client never turns
// them into floats.
//
// Example:
//
//	c := client.New("https://pay.example.com", os.Getenv("CRYPTOPAY_API_KEY"))
//	inv, err := c.CreateInvoice(ctx, client.InvoiceParams{
//		OrderID:  "order-1042",
//		Amount:   "25.00",
//		Currency: "USD",
//	}, client.WithIdempotencyKey("order-1042"))
//	var apiErr *client.Error
//	if errors.As(err, &apiErr) && apiErr.Code == "conflict" {
//		// an invoice for this order already exists; apiErr.Message names it
//	}
//	fmt.Println(inv.Address, inv.CryptoAmount, inv.PaymentURI)
//
// Every method returns a *Error for a response in the API's error shape
// and a plain error (wrapping the cause) for transport failures and
// undecodable responses.
package client

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
	"strings"
)

// DefaultUserAgent is sent unless WithUserAgent replaces it.
const DefaultUserAgent = "cryptopay-go/1"

// maxResponseBytes bounds how much of a response the client reads, so a
// misbehaving server cannot exhaust the shop's memory.
const maxResponseBytes = 16 << 20

// Client calls the API with one API key. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	apiKey    string
	http      *http.Client
	userAgent string
	onExpiry  func(warning string)
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (timeouts, proxies, TLS); the
// default is http.DefaultClient.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithUserAgent sets the User-Agent header, for example "myshop/2.3
// cryptopay-go/1".
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithKeyExpiryWarning calls f with the server's warning whenever a
// response says the API key expires soon, so the shop can rotate it before
// it stops working.
func WithKeyExpiryWarning(f func(warning string)) Option { return func(c *Client) { c.onExpiry = f } }

// New returns a client for the API at baseURL (for example
// "https://pay.example.com") using apiKey (cp_live_… or cp_test_…). A
// malformed baseURL is reported by every call, not here, so New can be
// used in a variable declaration.
func New(baseURL, apiKey string, opts ...Option) *Client {
	c := &Client{apiKey: apiKey, userAgent: DefaultUserAgent}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err == nil && u.Scheme != "" && u.Host != "" {
		c.base = u
	}
	for _, o := range opts {
		o(c)
	}
	c.http = cmp.Or(c.http, http.DefaultClient)
	return c
}

// RequestOption configures one request.
type RequestOption func(*requestConfig)

type requestConfig struct {
	idempotencyKey string
	header         *http.Header
}

// WithIdempotencyKey sends an Idempotency-Key: retrying the same request
// with the same key returns the first response instead of acting twice.
// Reusing a key with a different request is an error (code
// "idempotency_mismatch").
func WithIdempotencyKey(key string) RequestOption {
	return func(r *requestConfig) { r.idempotencyKey = key }
}

// WithResponseHeader stores the response's headers in *h (for example
// Request-Id, or Idempotent-Replayed: true on a replay), also when the call
// returns a *Error.
func WithResponseHeader(h *http.Header) RequestOption {
	return func(r *requestConfig) { r.header = h }
}

// Error is an error response of the API. Code is one of a closed set
// ("invalid_request", "not_found", "conflict", "invalid_state", "idempotency_mismatch",
// "unauthenticated", "forbidden", "rate_limited", "request_too_large",
// "unavailable", "internal_error", "method_not_allowed",
// "database_unavailable", "unsupported_media_type"); Param names the
// offending request field when there is one; RequestID identifies the
// request in the server's logs.
type Error struct {
	Status    int    `json:"-"`
	Type      string `json:"type"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	Param     string `json:"param,omitempty"`
	RequestID string `json:"request_id"`
}

// Error returns the status, code, message, param and request id in one
// line.
func (e *Error) Error() string {
	s := fmt.Sprintf("cryptopay: %d %s: %s", e.Status, e.Code, e.Message)
	if e.Param != "" {
		s += " (param " + e.Param + ")"
	}
	if e.RequestID != "" {
		s += " [" + e.RequestID + "]"
	}
	return s
}

// parseError turns a non-2xx response body into an *Error. A body that is
// not in the API's error shape (a proxy's HTML page) still yields an
// *Error with the status and a code derived from it.
func parseError(status int, body []byte) *Error {
	var env struct {
		Error *Error `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error != nil && env.Error.Code != "" {
		env.Error.Status = status
		return env.Error
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return &Error{Status: status, Type: "api_error", Code: "http_" + fmt.Sprint(status),
		Message: cmp.Or(msg, http.StatusText(status), "HTTP status "+fmt.Sprint(status))}
}

// do sends one request and decodes a 2xx JSON body into out.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any, opts []RequestOption) error {
	if c.base == nil {
		return errors.New("cryptopay: the base URL must be absolute, such as https://pay.example.com")
	}
	var rc requestConfig
	for _, o := range opts {
		o(&rc)
	}
	target := c.base.String() + path // path segments are escaped by the callers
	if q := query.Encode(); q != "" {
		target += "?" + q
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("cryptopay: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return fmt.Errorf("cryptopay: %w", err)
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if rc.idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", rc.idempotencyKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cryptopay: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if rc.header != nil {
		*rc.header = resp.Header.Clone()
	}
	if w := resp.Header.Get("CryptoPay-Key-Expiry-Warning"); w != "" && c.onExpiry != nil {
		c.onExpiry(w)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("cryptopay: %s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseError(resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("cryptopay: %s %s: decode response: %w", method, path, err)
	}
	return nil
}

// pathID escapes an id for use as one path segment, so an id can never
// address another route.
func pathID(id string) string { return url.PathEscape(id) }
