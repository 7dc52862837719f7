// Package alert tells an operator that something needs a human: a deep
// reorg, a settled invoice reorged out, a high-value payment, a shared rate
// limiter that went away. Every alert is logged at ERROR (a notice of
// Severity Info, such as an audit checkpoint, at INFO); when a webhook
// URL is configured it is also POSTed there as Slack-compatible JSON
// ({"text": ...}) by one background sender, and handed to any further
// sinks (email to the emergency contacts, email.go) that want it.
//
// Alert never blocks its caller: alerts wait in a bounded queue, and when
// the queue is full they are dropped and counted (the log line is still
// written). It is not a paging system: there are no retries beyond one
// attempt per alert, no deduplication and no escalation.
package alert

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Severity grades an alert.
type Severity string

// Severities, least to most urgent.
const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

// Alert is one message to the operator. Fields carry identifiers (invoice
// id, txid, height); never secrets or customer PII.
type Alert struct {
	Severity Severity
	Title    string
	Text     string
	Fields   map[string]string
}

// Config configures an Alerter.
type Config struct {
	// WebhookURL receives each alert as a JSON POST; "" only logs.
	WebhookURL string
	Logger     *slog.Logger
	// Client sends the POSTs (default: a client with Timeout).
	Client *http.Client
	// Timeout bounds one POST (default 5s).
	Timeout time.Duration
	// QueueSize bounds alerts waiting to be sent (default 100).
	QueueSize int
	// Sinks receive the alerts they want beside the webhook (email.go).
	Sinks []Sink
}

// Sink is a destination of alerts beside the webhook, such as Email.
type Sink interface {
	Name() string
	Wants(Alert) bool
	Send(ctx context.Context, al Alert) error
}

// Alerter logs and forwards alerts. A nil *Alerter is valid and does
// nothing, so components may hold one unconditionally.
type Alerter struct {
	log     *slog.Logger
	url     string
	client  *http.Client
	timeout time.Duration
	queue   chan Alert
	sinks   []Sink

	sent, failed, dropped atomic.Int64
	pending               atomic.Int64 // queued or being sent

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// New returns an Alerter; with a WebhookURL it starts the sender, which
// Close stops.
func New(cfg Config) *Alerter {
	a := &Alerter{
		log:     cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		url:     cfg.WebhookURL,
		timeout: cmp.Or(cfg.Timeout, 5*time.Second),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		sinks:   cfg.Sinks,
	}
	a.client = cmp.Or(cfg.Client, &http.Client{Timeout: a.timeout})
	if a.url == "" && len(a.sinks) == 0 {
		close(a.done)
		return a
	}
	a.queue = make(chan Alert, cmp.Or(cfg.QueueSize, 100))
	go a.run()
	return a
}

// Alert logs al at ERROR (INFO for Severity Info) and queues it for the webhook. It never blocks:
// with the queue full, al is dropped from the webhook and counted.
func (a *Alerter) Alert(ctx context.Context, al Alert) {
	if a == nil {
		return
	}
	al.Severity = cmp.Or(al.Severity, Warning)
	args := []any{"severity", al.Severity, "title", al.Title, "text", al.Text}
	for _, k := range sortedKeys(al.Fields) {
		args = append(args, slog.String("field."+k, al.Fields[k]))
	}
	if al.Severity == Info { // a record for the sink (audit checkpoints), not a problem
		a.log.InfoContext(ctx, "notice: "+al.Title, args...)
	} else {
		a.log.ErrorContext(ctx, "ALERT: "+al.Title, args...)
	}
	if a.queue == nil {
		return
	}
	select {
	case <-a.stop:
		a.dropped.Add(1)
	case a.queue <- al:
		a.pending.Add(1)
	default:
		a.dropped.Add(1)
	}
}

// Stats counts webhook deliveries: sent (2xx), failed, and dropped
// because the queue was full or the Alerter closed.
func (a *Alerter) Stats() (sent, failed, dropped int64) {
	if a == nil {
		return 0, 0, 0
	}
	return a.sent.Load(), a.failed.Load(), a.dropped.Load()
}

// Drain waits until every queued alert has been sent (or has failed), or
// ctx ends; serve drains before Close so its last alerts (the shutdown
// audit checkpoint) are not dropped.
func (a *Alerter) Drain(ctx context.Context) {
	if a == nil {
		return
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for a.pending.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-a.done:
			return
		case <-t.C:
		}
	}
}

// Close stops the sender after at most one POST in flight; queued alerts
// not yet sent are dropped and counted. Safe to call twice and on nil.
func (a *Alerter) Close() error {
	if a == nil {
		return nil
	}
	a.stopOnce.Do(func() { close(a.stop) })
	<-a.done
	if a.queue != nil {
		for {
			select {
			case <-a.queue:
				a.dropped.Add(1)
			default:
				return nil
			}
		}
	}
	return nil
}

func (a *Alerter) run() {
	defer close(a.done)
	for {
		select {
		case <-a.stop:
			return
		case al := <-a.queue:
			if a.url != "" {
				if err := a.post(al); err != nil {
					a.failed.Add(1)
					a.log.Error("alert webhook failed", "title", al.Title, "err", err)
				} else {
					a.sent.Add(1)
				}
			}
			for _, sk := range a.sinks {
				if !sk.Wants(al) {
					continue
				}
				if err := a.send(sk, al); err != nil {
					a.failed.Add(1)
					a.log.Error("alert sink failed", "sink", sk.Name(), "title", al.Title, "err", err)
				} else {
					a.sent.Add(1)
				}
			}
			a.pending.Add(-1)
		}
	}
}

// send hands al to sk, interrupted by Close like a POST.
func (a *Alerter) send(sk Sink, al Alert) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-a.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return sk.Send(ctx, al)
}

func (a *Alerter) post(al Alert) error {
	body, err := json.Marshal(map[string]string{"text": Format(al)})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	go func() { // Close interrupts a POST to a hung receiver
		select {
		case <-a.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cryptopay-alert")
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
}

// Format renders al as the webhook's text: a severity tag and title on
// the first line, then the text, then one "key: value" line per field in
// key order.
func Format(al Alert) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s", strings.ToUpper(string(cmp.Or(al.Severity, Warning))), al.Title)
	if al.Text != "" {
		b.WriteString("\n" + al.Text)
	}
	for _, k := range sortedKeys(al.Fields) {
		fmt.Fprintf(&b, "\n%s: %s", k, al.Fields[k])
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
