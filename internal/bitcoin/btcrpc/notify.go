package btcrpc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// Kind is what a Notification announces.
type Kind int

// Notification kinds, from btcd's blockconnected, blockdisconnected and
// txaccepted notifications.
const (
	BlockConnected Kind = iota + 1
	BlockDisconnected
	TxAccepted
)

func (k Kind) String() string {
	switch k {
	case BlockConnected:
		return "blockconnected"
	case BlockDisconnected:
		return "blockdisconnected"
	case TxAccepted:
		return "txaccepted"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Notification is a hint that the node's state changed. Hash and Height are
// set for block kinds, TxID for TxAccepted.
type Notification struct {
	Kind   Kind
	Hash   string
	Height int64
	TxID   string
}

const (
	notifyBuffer = 256
	pingEvery    = 30 * time.Second
	// idleLimit closes a connection that has answered neither a ping nor
	// anything else for this long: a silently dead TCP connection would
	// otherwise leave the caller waiting for notifications forever.
	idleLimit = 3 * pingEvery
)

// Subscribe connects to btcd's websocket and asks for block
// (notifyblocks) and new-transaction (notifynewtransactions) notifications.
//
// The channel delivers notifications until ctx ends or the connection is
// lost, and is then closed; callers resubscribe or poll. When the caller
// falls behind, notifications are dropped rather than queued without
// bound: they are hints, and a full channel already holds a wake-up.
//
// Errors: ErrUnsupported (wrapped) when the endpoint answers the websocket
// handshake with an HTTP status other than 101 or 401/403, as Bitcoin Core
// does; a *TransportError for connection failures and rejected credentials
// (Status 401/403); an *RPCError if the node refuses a subscription.
func (c *Client) Subscribe(ctx context.Context) (<-chan Notification, error) {
	const method = "websocket"
	user, pass, err := c.credentials()
	if err != nil {
		return nil, &TransportError{Method: method, Err: err}
	}
	hdr := http.Header{}
	if user != "" {
		hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	}
	// The dial context bounds the handshake only; the connection then
	// lives until ctx ends or it fails.
	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, c.wsURL, &websocket.DialOptions{HTTPClient: c.http, HTTPHeader: hdr})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
				return nil, &TransportError{Method: method, Status: resp.StatusCode, Err: errors.New("credentials rejected")}
			}
			return nil, fmt.Errorf("%w: websocket handshake answered HTTP %d", ErrUnsupported, resp.StatusCode)
		}
		return nil, &TransportError{Method: method, Err: transportCause(dctx, err)}
	}
	conn.SetReadLimit(1 << 20) // notifications are small; a block is never sent

	out := make(chan Notification, notifyBuffer)
	deliver := func(n Notification) {
		select {
		case out <- n:
		default:
		}
	}
	if err := subscribe(ctx, conn, c.timeout, deliver); err != nil {
		conn.CloseNow()
		return nil, err
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(out)
		defer close(readerDone)
		defer conn.CloseNow()
		go ping(ctx, conn, readerDone, c.timeout)
		for {
			// Reading with ctx: when it ends the connection closes, which
			// is how the subscription stops.
			_, msg, err := conn.Read(ctx)
			if err != nil {
				return
			}
			if n, ok := parseNotification(msg); ok {
				deliver(n)
			}
		}
	}()
	return out, nil
}

// subscribe sends the two subscription requests and waits for each answer
// (within timeout), passing on any notification that arrives in between.
func subscribe(ctx context.Context, conn *websocket.Conn, timeout time.Duration, deliver func(Notification)) error {
	reqs := []request{
		{JSONRPC: "1.0", ID: 1, Method: "notifyblocks", Params: []any{}},
		{JSONRPC: "1.0", ID: 2, Method: "notifynewtransactions", Params: []any{false}},
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, req := range reqs {
		b, err := json.Marshal(req)
		if err != nil {
			return err
		}
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			return &TransportError{Method: req.Method, Err: transportCause(ctx, err)}
		}
		for {
			_, msg, err := conn.Read(ctx)
			if err != nil {
				return &TransportError{Method: req.Method, Err: transportCause(ctx, err)}
			}
			if n, ok := parseNotification(msg); ok {
				deliver(n)
				continue
			}
			var r response
			if json.Unmarshal(msg, &r) != nil {
				continue // neither a notification nor a reply: not ours
			}
			var id uint64
			if json.Unmarshal(r.ID, &id) != nil || id != req.ID {
				continue
			}
			if len(r.Error) > 0 && string(r.Error) != "null" {
				var e rpcErrorBody
				if json.Unmarshal(r.Error, &e) != nil || e.Code == nil {
					return &ResponseError{Method: req.Method, Reason: "malformed error object"}
				}
				return unsupported(&RPCError{Method: req.Method, Code: *e.Code, Message: e.Message})
			}
			break
		}
	}
	return nil
}

// ping checks a quiet connection every pingEvery: a node that does not
// answer a ping within idleLimit is taken for a silently dead TCP
// connection, which is closed so the caller stops waiting for
// notifications that will never come (and resubscribes or polls).
func ping(ctx context.Context, conn *websocket.Conn, done <-chan struct{}, timeout time.Duration) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, max(timeout, idleLimit-pingEvery))
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				conn.CloseNow()
				return
			}
		}
	}
}

// parseNotification decodes a btcd notification message. It reports false
// for anything else: replies, notifications it does not use (btcd also
// sends filteredblockconnected), and malformed messages.
func parseNotification(msg []byte) (Notification, bool) {
	var m struct {
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	if json.Unmarshal(msg, &m) != nil {
		return Notification{}, false
	}
	switch m.Method {
	case "blockconnected", "blockdisconnected":
		var hash string
		var height int64
		if len(m.Params) < 2 || json.Unmarshal(m.Params[0], &hash) != nil ||
			json.Unmarshal(m.Params[1], &height) != nil || !isHash(hash) || height < 0 {
			return Notification{}, false
		}
		kind := BlockConnected
		if m.Method == "blockdisconnected" {
			kind = BlockDisconnected
		}
		return Notification{Kind: kind, Hash: hash, Height: height}, true
	case "txaccepted":
		var txid string
		if len(m.Params) < 1 || json.Unmarshal(m.Params[0], &txid) != nil || !isHash(txid) {
			return Notification{}, false
		}
		return Notification{Kind: TxAccepted, TxID: txid}, true
	}
	return Notification{}, false
}
