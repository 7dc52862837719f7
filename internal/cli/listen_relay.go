package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cryptopay/cryptopay/client"
	"github.com/cryptopay/cryptopay/webhooksig"
)

// relay is the loopback receiver of listen's temporary endpoint. It
// forwards only deliveries whose signature verifies with the endpoint's
// secret: any local process can reach a loopback port, and the relay must
// not let it post to the shop in the gateway's name.
type relay struct {
	secret  string
	forward *url.URL
	json    bool
	client  *http.Client
	mu      sync.Mutex // one event's lines together
	out     io.Writer  // event summaries, or raw bodies with json
	log     io.Writer  // everything else
}

// maxShopResponse is how much of the shop's answer goes back to the
// gateway, which keeps the first 4 KiB in its delivery log.
const maxShopResponse = 64 << 10

// hopHeaders are the request headers that belong to one connection, not
// to the delivery: the relay's own client sets them for the next hop.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length", "Accept-Encoding"}

func (rl *relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		http.Error(w, "cryptopay listen relays webhook deliveries only", http.StatusNotFound)
		return
	}
	arrived := time.Now()
	body, err := webhooksig.ReadAndVerify(r, rl.secret, 0)
	if err != nil {
		rl.printf(rl.log, "%s  !!  refused a request that is not a delivery signed with this endpoint's secret: %v\n", stamp(arrived), err)
		http.Error(w, "signature does not verify", http.StatusUnauthorized)
		return
	}
	eventID := r.Header.Get(webhooksig.HeaderEventID)
	rl.mu.Lock()
	if rl.json {
		fmt.Fprintf(rl.out, "%s\n", bytes.TrimRight(body, "\n"))
	} else {
		fmt.Fprintf(rl.out, "%s  --> %s [%s]\n", stamp(arrived), summarize(body), eventID)
	}
	rl.mu.Unlock()

	status, answer, ctype, err := rl.send(r, body)
	latency := time.Since(arrived).Round(time.Millisecond)
	if err != nil {
		rl.printf(rl.log, "%s  <-- [ERR] POST %s (%s) failed: %v [%s]\n", stamp(time.Now()), rl.forward, latency, err, eventID)
		// A 502 is a failed attempt: the gateway retries on its schedule,
		// as it would for a shop that is down.
		http.Error(w, "cryptopay listen could not reach "+rl.forward.String()+": "+err.Error(), http.StatusBadGateway)
		return
	}
	statusOut := rl.out
	if rl.json {
		statusOut = rl.log
	}
	rl.printf(statusOut, "%s  <-- [%d] POST %s (%s) [%s]\n", stamp(time.Now()), status, rl.forward, latency, eventID)
	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

// send forwards the exact body with the delivery's headers and returns the
// shop's status, the start of its answer and its content type.
func (rl *relay) send(r *http.Request, body []byte) (int, []byte, string, error) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, rl.forward.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	req.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		req.Header.Del(h)
	}
	resp, err := rl.client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxShopResponse))
	return resp.StatusCode, answer, resp.Header.Get("Content-Type"), nil
}

func (rl *relay) printf(w io.Writer, format string, args ...any) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	fmt.Fprintf(w, format, args...)
}

func stamp(t time.Time) string { return t.Format("2006-01-02 15:04:05") }

// summarize is an event on one line: its type, and for an event about an
// invoice the invoice, its status, price and what is paid and due.
func summarize(body []byte) string {
	var ev client.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return "(a body that is not an event)"
	}
	d, err := ev.InvoiceData()
	if err != nil || d.InvoiceID == "" {
		return ev.Type
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-30s %s  %s", ev.Type, d.InvoiceID, d.Status)
	if len(d.Flags) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(d.Flags, ","))
	}
	fmt.Fprintf(&b, "  %s %s  paid %s due %s %s", d.Amount, d.Currency, d.AmountPaid, d.AmountDue, d.Asset)
	if d.TxID != "" {
		fmt.Fprintf(&b, "  payment %s %s (%d conf)", d.PaymentAmount, d.PaymentStatus, d.Confirmations)
	}
	return b.String()
}
