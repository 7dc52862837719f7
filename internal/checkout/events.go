package checkout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// writeWindow is how long one event may take to write. Each write extends
// the connection's deadline by this much, so the server's WriteTimeout does
// not cut a long-lived stream while a stalled client still times out.
const writeWindow = 30 * time.Second

// Events serves GET /pay/{id}/events: a server-sent event stream of the
// invoice's state. It sends an "event: state" message with a State as JSON
// at once and then whenever what the payer sees changes (not for the
// countdown, which the page keeps itself); a comment every heartbeat
// interval keeps proxies from closing an idle stream. The stream ends on a
// final state, when the client goes away, or after its lifetime (the
// browser's EventSource then reconnects). Unknown ids are 404 in plain
// text; past the limit of open streams per invoice or per client address
// it answers 429, past the server's limit 503, both with Retry-After.
func (h *Handler) Events(w http.ResponseWriter, r *http.Request) {
	inv, ok := h.invoice(w, r, false)
	if !ok {
		return
	}
	client := h.clientAddr(r)
	if why := h.open.acquire(inv.ID, client, h.perInvoice, h.perClient); why != "" {
		h.log.InfoContext(r.Context(), "checkout: stream refused", "invoice", inv.ID, "client", client, "reason", why)
		w.Header().Set("Retry-After", "10")
		http.Error(w, "Too many open status streams "+why+"; close other tabs or retry shortly.", http.StatusTooManyRequests)
		return
	}
	defer h.open.release(inv.ID, client)
	if h.streams.Add(1) > h.maxStream {
		h.streams.Add(-1)
		h.log.WarnContext(r.Context(), errStreamBusy.Error(), "limit", h.maxStream)
		w.Header().Set("Retry-After", "10")
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}
	defer h.streams.Add(-1)

	ctx := r.Context()
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)

	send := func(b []byte) error {
		if err := rc.SetWriteDeadline(time.Now().Add(writeWindow)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	// A reconnecting EventSource waits this long (milliseconds).
	if err := send([]byte("retry: 3000\n\n")); err != nil {
		return
	}

	end := time.NewTimer(h.lifetime)
	defer end.Stop()
	poll := time.NewTicker(h.poll)
	defer poll.Stop()
	beat := time.NewTicker(h.heartbeat)
	defer beat.Stop()

	k := h.load(r, inv)
	page := h.pageData(k)
	var last []byte
	for {
		st := h.state(k)
		// Asked at every re-read, as the page asks at every load: a freeze
		// that starts while the page is open hides the payment details,
		// and one lifted brings them back.
		if h.frozen(ctx, k.inv) {
			withhold(&st, k.c)
		}
		key := stateKey(st)
		if !bytes.Equal(key, last) {
			page.State = st
			msg, err := h.eventMessage(page)
			if err != nil {
				h.log.ErrorContext(ctx, "checkout: encoding state", "invoice", inv.ID, "err", err)
				return
			}
			if err := send(msg); err != nil {
				return
			}
			last = key
			beat.Reset(h.heartbeat)
			if st.Final {
				return
			}
		}
		for reread := false; !reread; {
			select {
			case <-ctx.Done():
				return
			case <-end.C:
				return
			case <-beat.C:
				if err := send([]byte(": keep-alive\n\n")); err != nil {
					return
				}
			case <-poll.C:
				reread = true
			}
		}
		next, err := h.svc.GetInvoice(ctx, nil, inv.ID)
		if err != nil {
			if ctx.Err() == nil {
				h.log.WarnContext(ctx, "checkout: re-reading invoice for its stream", "invoice", inv.ID, "err", err)
			}
			continue // keep the last state; try again at the next tick
		}
		k.inv = next
	}
}

// streamCounts counts open streams by invoice and by client address.
type streamCounts struct {
	mu        sync.Mutex
	byInvoice map[string]int
	byClient  map[string]int
}

// acquire takes a slot for one stream of invoice from client, or says why
// not ("for this invoice", "from your address").
func (c *streamCounts) acquire(invoice, client string, perInvoice, perClient int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byInvoice == nil {
		c.byInvoice, c.byClient = map[string]int{}, map[string]int{}
	}
	switch {
	case c.byInvoice[invoice] >= perInvoice:
		return "for this invoice"
	case c.byClient[client] >= perClient:
		return "from your address"
	}
	c.byInvoice[invoice]++
	c.byClient[client]++
	return ""
}

func (c *streamCounts) release(invoice, client string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byInvoice[invoice]--; c.byInvoice[invoice] <= 0 {
		delete(c.byInvoice, invoice)
	}
	if c.byClient[client]--; c.byClient[client] <= 0 {
		delete(c.byClient, client)
	}
}

// stateKey is the part of a state whose change is news: everything but the
// seconds to expiry, which change every second and which the page counts
// down itself.
func stateKey(st State) []byte {
	st.ExpiresIn = 0
	b, _ := json.Marshal(st)
	return b
}

// event is a State with the page's parts that show it, rendered by the
// same templates as the page, so the live page and a reload agree.
type event struct {
	State
	StatusHTML  string `json:"status_html"`
	DetailsHTML string `json:"details_html"`
}

// eventMessage frames d's state as one server-sent event. JSON has no raw
// newlines, so the data fits on one line.
func (h *Handler) eventMessage(d pageData) ([]byte, error) {
	var status, details bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&status, "status", d); err != nil {
		return nil, err
	}
	if err := h.tmpl.ExecuteTemplate(&details, "details", d); err != nil {
		return nil, err
	}
	b, err := json.Marshal(event{State: d.State, StatusHTML: status.String(), DetailsHTML: details.String()})
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "event: state\ndata: %s\n\n", b), nil
}
