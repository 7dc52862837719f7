package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/webhooksig"
)

// outcome is an attempt made and not yet recorded.
type outcome struct {
	d       *cryptopay.WebhookDelivery
	ep      *cryptopay.WebhookEndpoint
	a       cryptopay.WebhookAttempt
	status  cryptopay.DeliveryStatus
	next    *time.Time // when the delivery is due again; nil once final
	expired bool       // the endpoint had expired: nothing was sent
}

// attemptOnce makes one attempt of d, claimed with its endpoint ep (or
// none, for a disabled or expired endpoint, which fails the delivery), and
// returns what to record.
func (s *Service) attemptOnce(ctx context.Context, d *cryptopay.WebhookDelivery, ep *cryptopay.WebhookEndpoint) *outcome {
	o := &outcome{d: d, ep: ep, a: cryptopay.WebhookAttempt{DeliveryID: d.ID, Number: d.Attempts + 1, StartedAt: s.now().UTC()}}
	a := &o.a
	// An expired endpoint's owner has stopped renewing it (a listener that
	// crashed): what it still had pending is never sent.
	o.expired = ep.Expired(a.StartedAt)
	switch {
	case !ep.Enabled:
		a.Error = "endpoint disabled; not sent"
	case o.expired:
		a.Error = "endpoint expired; not sent"
	default:
		s.attempt(ctx, ep, d, a)
	}
	ok := a.StatusCode >= 200 && a.StatusCode < 300
	o.status = cryptopay.DeliveryPending
	switch {
	case ok:
		o.status = cryptopay.DeliverySucceeded
	case !ep.Enabled, o.expired:
		o.status = cryptopay.DeliveryFailed
	default:
		if at, more := s.sched.Next(d.CreatedAt, a.StartedAt.Add(a.Duration), a.Number, s.rand); more {
			o.next = &at
		} else {
			o.status = cryptopay.DeliveryFailed
		}
	}
	return o
}

// recordAttempts records the attempts of outs in one transaction (a few
// statements for all), each as recordAttempt would. A delivery that failed
// for good may disable its endpoint, so it is recorded by recordAttempt;
// so is every one of outs when the batch fails (an attempt number recorded
// by an earlier claim, a delivery deleted with its endpoint), so that one
// such attempt does not hold back the others.
func (s *Service) recordAttempts(ctx context.Context, outs []*outcome) {
	var batch []storage.WebhookAttemptRecord
	var plain []*outcome
	for _, o := range outs {
		if o.status == cryptopay.DeliveryFailed {
			s.recordAttempt(ctx, o)
			continue
		}
		plain = append(plain, o)
		batch = append(batch, storage.WebhookAttemptRecord{Attempt: &o.a, Status: o.status, Next: o.next})
	}
	if len(batch) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jobMargin)
	defer cancel()
	err := s.db.InTx(rctx, func(tx storage.Tx) error { return tx.RecordWebhookAttempts(rctx, batch) })
	if err != nil {
		for _, o := range plain {
			s.recordAttempt(ctx, o)
		}
		return
	}
	for _, o := range plain {
		s.reportAttempt(ctx, o.ep, o.d, &o.a, o.status, o.next)
	}
}

// recordAttempt stores o's attempt and moves its delivery on (ending its claim),
// and disables the endpoint when the delivery failed for good and nothing
// got through for the whole window. A failure to record leaves the claim
// to end by itself (RescueAfter), when the delivery is attempted again.
func (s *Service) recordAttempt(ctx context.Context, o *outcome) {
	// The request is over: its record must not be lost to a stop that
	// gives up on attempts in flight, and is bounded by the margin the
	// claim leaves for it.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jobMargin)
	defer cancel()
	err := s.db.InTx(rctx, func(tx storage.Tx) error {
		if err := tx.RecordWebhookAttempt(rctx, &o.a, o.status, o.next); err != nil {
			return err
		}
		if o.status == cryptopay.DeliveryFailed && o.ep.Enabled && !o.expired {
			return s.maybeDisable(rctx, tx, o.ep.ID, o.d.CreatedAt, o.a.StartedAt)
		}
		return nil
	})
	var conflict *storage.ConflictError
	if errors.As(err, &conflict) {
		return // this attempt number was recorded by an earlier claim of the delivery
	}
	if err != nil {
		s.log.ErrorContext(ctx, "webhook: record attempt; the delivery is due again when its claim ends",
			"delivery", o.d.ID, "err", err)
		return
	}
	s.reportAttempt(ctx, o.ep, o.d, &o.a, o.status, o.next)
}

// reportAttempt tells Config.OnAttempt the recorded attempt's result and
// logs a failed one at WARN, so an operator sees a failing endpoint in the
// log and not only through the API: endpoint, event, delivery, the
// answer's status (0 when none came) and when the next attempt is due.
func (s *Service) reportAttempt(ctx context.Context, ep *cryptopay.WebhookEndpoint, d *cryptopay.WebhookDelivery, a *cryptopay.WebhookAttempt, status cryptopay.DeliveryStatus, next *time.Time) {
	result := "succeeded"
	switch {
	case status == cryptopay.DeliverySucceeded:
	case !ep.Enabled:
		result = "not_sent"
	case next != nil:
		result = "retrying"
	default:
		result = "failed"
	}
	if s.onTry != nil {
		s.onTry(result)
	}
	if result == "succeeded" {
		return
	}
	attrs := []any{"endpoint", ep.ID, "event", d.EventID, "delivery", d.ID, "attempt", a.Number, "status", a.StatusCode}
	if a.Error != "" {
		attrs = append(attrs, "error", a.Error)
	}
	if next != nil {
		attrs = append(attrs, "next_attempt", next.UTC().Format(time.RFC3339))
	} else {
		attrs = append(attrs, "next_attempt", "none (given up)")
	}
	s.log.WarnContext(ctx, "webhook: delivery attempt failed", attrs...)
}

// attempt POSTs d to ep once and fills in a.
func (s *Service) attempt(ctx context.Context, ep *cryptopay.WebhookEndpoint, d *cryptopay.WebhookDelivery, a *cryptopay.WebhookAttempt) {
	defer func() { a.Duration = s.now().Sub(a.StartedAt) }()
	secrets, err := s.signingSecrets(ep, a.StartedAt)
	if err != nil {
		a.Error = "cannot open the endpoint secret"
		s.log.ErrorContext(ctx, "webhook: open secret", "endpoint", ep.ID, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(d.Body))
	if err != nil {
		a.Error = "bad request: " + err.Error()
		return
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", s.ua)
	h.Set(webhooksig.HeaderLegacySignature, webhooksig.Sign(d.Body, secrets[0]))
	h.Set(webhooksig.HeaderSignature, webhooksig.SignHeader(d.Body, a.StartedAt, secrets...))
	h.Set(webhooksig.HeaderEventID, d.EventID)
	h.Set(webhooksig.HeaderDeliveryID, d.ID)
	h.Set(webhooksig.HeaderEventType, string(d.EventType))
	client := s.testHTTP
	if ep.Livemode {
		client = s.liveHTTP
	}
	resp, err := client.Do(req)
	if err != nil {
		a.Error = describeErr(err)
		return
	}
	defer resp.Body.Close()
	a.StatusCode = resp.StatusCode
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	a.ResponseBody = strings.ToValidUTF8(string(b), "\uFFFD")
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		a.Error = "redirect not followed (" + strconv.Itoa(resp.StatusCode) + ")"
	}
}

// describeErr keeps the part of a client error a merchant can act on.
func describeErr(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, ErrForbiddenAddress):
		return "refused: " + err.Error()
	}
	return err.Error()
}

// signingSecrets returns the current secret and, inside the rotation
// overlap, the previous one. The current secret is first: it signs the
// legacy header, so a receiver that deploys the new secret promptly is
// accepted immediately.
func (s *Service) signingSecrets(ep *cryptopay.WebhookEndpoint, now time.Time) ([]string, error) {
	cur, err := s.keys.Open(ep.Secret, secretAAD("secret", ep.ID))
	if err != nil {
		return nil, err
	}
	out := []string{string(cur)}
	if ep.PreviousSecret != "" && ep.PreviousSecretExpiresAt != nil && now.Before(*ep.PreviousSecretExpiresAt) {
		prev, err := s.keys.Open(ep.PreviousSecret, secretAAD("previous_secret", ep.ID))
		if err != nil {
			return nil, err
		}
		out = append(out, string(prev))
	}
	return out, nil
}

// maybeDisable runs when a delivery made at since has failed for good: it
// was retried for its whole window. Unless some attempt to the endpoint
// succeeded since then (other deliveries get through, so the endpoint
// works), every attempt has failed for the whole window: the endpoint is
// disabled, and the event saying so is written (delivered to the store's
// other endpoints by the outbox).
//
// The delivery's creation is the mark, not the window measured back from
// now: the last attempt of a delivery comes before the window ends (the
// next retry would fall after it), so "no success within the last
// window" would never hold for an endpoint that got a single event.
func (s *Service) maybeDisable(ctx context.Context, tx storage.Tx, id string, since, now time.Time) error {
	ep, err := tx.GetWebhookEndpoint(ctx, id)
	if err != nil || !ep.Enabled {
		return err
	}
	last, err := tx.LastWebhookSuccess(ctx, id)
	if err != nil {
		return err
	}
	if last != nil && !last.Before(since) {
		return nil
	}
	ep.Enabled = false
	ep.DisabledReason = fmt.Sprintf("every delivery attempt failed for %s", s.sched.Window)
	ep.UpdatedAt = now
	if err := tx.UpdateWebhookEndpoint(ctx, ep); err != nil {
		return err
	}
	data, _ := json.Marshal(map[string]any{
		"webhook_endpoint_id": ep.ID, "url": ep.URL, "reason": ep.DisabledReason,
	})
	ev := cryptopay.Event{ID: cryptopay.NewID(cryptopay.PrefixEvent, now), StoreID: ep.StoreID, Livemode: ep.Livemode,
		Type: cryptopay.EventWebhookEndpointDisabled, Data: data, CreatedAt: now}
	s.log.WarnContext(ctx, "webhook: endpoint disabled", "endpoint", ep.ID, "reason", ep.DisabledReason)
	return s.outbox.Append(ctx, tx, &ev)
}
