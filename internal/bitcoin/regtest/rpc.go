package regtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
)

// maxResponse bounds what Call reads: a regtest block is small, and a
// runaway body must not exhaust memory.
const maxResponse = 64 << 20

// RPCError is an error returned by the node itself (as opposed to a
// transport failure). Use errors.As to inspect the code, e.g. -26 for a
// rejected transaction or -5 for an unknown block.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

type idCounter struct{ n atomic.Uint64 }

func (c *idCounter) next() uint64 { return c.n.Add(1) }

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

type rpcResponse struct {
	Result json.RawMessage `json:"result"`
	Error  *RPCError       `json:"error"`
}

// Call performs one JSON-RPC 1.0 request with the node's credentials and
// decodes the result into result (which may be nil to discard it). It
// returns *RPCError when the node answered with an error, and a wrapped
// transport or decoding error otherwise.
func (n *Node) Call(ctx context.Context, method string, params []any, result any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(rpcRequest{JSONRPC: "1.0", ID: n.rpcID.next(), Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("regtest: %s: encode params: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.RPCURL(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("regtest: %s: %w", method, err)
	}
	req.SetBasicAuth(n.user, n.password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("regtest: %s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("regtest: %s: read response: %w", method, err)
	}
	if err := decodeResponse(resp.StatusCode, raw, result); err != nil {
		return fmt.Errorf("regtest: %s: %w", method, err)
	}
	return nil
}

// decodeResponse interprets one JSON-RPC reply. btcd answers RPC errors
// with a JSON body (status 200 or 500) but authentication failures with a
// plain-text 401, so the status only matters when the body is not JSON.
func decodeResponse(status int, raw []byte, result any) error {
	var r rpcResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		if status != http.StatusOK {
			return fmt.Errorf("http status %d: %.200q", status, raw)
		}
		return fmt.Errorf("decode response: %w", err)
	}
	if r.Error != nil {
		return r.Error
	}
	if status != http.StatusOK {
		return fmt.Errorf("http status %d without an rpc error", status)
	}
	if result == nil {
		return nil
	}
	if len(r.Result) == 0 {
		return errors.New("response has no result")
	}
	if err := json.Unmarshal(r.Result, result); err != nil {
		return fmt.Errorf("decode result: %w", err)
	}
	return nil
}
