package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/client"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// holdPayment records on the invoice a payment of its whole amount from a
// blocked sender, as the watcher does (status held, flag held), confs
// blocks deep (0: unconfirmed; -1: the invoice's required confirmations),
// and returns its id.
func holdPayment(t *testing.T, e *env, invoiceID string, status cryptopay.PaymentStatus, confs int64) string {
	t.Helper()
	ctx := context.Background()
	id := cryptopay.NewID(cryptopay.PrefixPayment, e.clock.now())
	err := e.db.InTx(ctx, func(tx storage.Tx) error {
		inv, err := tx.LockInvoice(ctx, invoiceID)
		if err != nil {
			return err
		}
		p := &cryptopay.Payment{ID: id, InvoiceID: inv.ID, Amount: inv.CryptoDue,
			FromAddress: "bcrt1qsender", Status: status, SeenAt: e.clock.now(), Confirmations: confs}
		sum := sha256.Sum256([]byte(id))
		p.TxID = hex.EncodeToString(sum[:])
		if confs < 0 {
			p.Confirmations = int64(inv.RequiredConfirmations)
		}
		if p.Confirmations > 0 {
			p.BlockHash, p.BlockHeight = strings.Repeat("cd", 32), 100
		}
		if err := tx.CreatePayment(ctx, p); err != nil {
			return err
		}
		if status == cryptopay.PaymentHeld {
			inv.Flags |= cryptopay.FlagHeld
		}
		return tx.UpdateInvoice(ctx, inv)
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestReleasePayment: a shop releases a held payment that already has the
// invoice's confirmations: the payment is confirmed with released_at, the
// held flag is gone and the invoice settles; payment.released (with the
// reason) then invoice.settled are delivered to the webhook endpoint in
// that order; the release is audited with the reason and the key; a retry
// with the same Idempotency-Key replays the answer, one without changes
// nothing.
func TestReleasePayment(t *testing.T) {
	forEachEngineWith(t, true, func(t *testing.T, e *env) {
		ctx := context.Background()
		rec := newReceiver(t)
		var ep wireEndpoint
		e.call(e.secret, "POST", "/v1/webhook_endpoints", `{"url":"`+rec.srv.URL+`/hook"}`, 201, &ep)
		inv, err := e.c.CreateInvoice(ctx, usdInvoice("o-1"))
		if err != nil {
			t.Fatal(err)
		}
		pid := holdPayment(t, e, inv.ID, cryptopay.PaymentHeld, -1)
		held, _ := e.c.GetInvoice(ctx, inv.ID)
		if !slices.Contains(held.Flags, "held") || held.Payments[0].Status != "held" || held.Payments[0].ReleasedAt != nil {
			t.Fatalf("before release: %+v", held)
		}

		got, err := e.c.ReleasePayment(ctx, inv.ID, pid, "sender verified by phone", client.WithIdempotencyKey("rel-1"))
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != "settled" || slices.Contains(got.Flags, "held") || got.AmountPaid != got.CryptoAmount ||
			got.Payments[0].Status != "confirmed" || got.Payments[0].ReleasedAt == nil {
			t.Fatalf("released: status %s flags %v paid %s, payment %+v", got.Status, got.Flags, got.AmountPaid, got.Payments[0])
		}
		var hdr http.Header
		again, err := e.c.ReleasePayment(ctx, inv.ID, pid, "sender verified by phone", client.WithIdempotencyKey("rel-1"), client.WithResponseHeader(&hdr))
		if err != nil || again.Status != "settled" || hdr.Get("Idempotent-Replayed") != "true" {
			t.Errorf("retry with the same Idempotency-Key: %+v, %v, replayed %q", again, err, hdr.Get("Idempotent-Replayed"))
		}
		if again, err := e.c.ReleasePayment(ctx, inv.ID, pid, "clicked twice"); err != nil || !again.Payments[0].ReleasedAt.Equal(*got.Payments[0].ReleasedAt) {
			t.Errorf("retry without a key: %+v, %v; want the first release's answer", again, err)
		}

		evs, err := e.c.ListEvents(ctx, client.ListEventsParams{Invoice: inv.ID})
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(evs.Data)
		var types []string
		for _, ev := range evs.Data {
			types = append(types, ev.Type)
		}
		if want := []string{"invoice.created", "payment.released", "invoice.settled"}; !slices.Equal(types, want) {
			t.Fatalf("events %v, want %v", types, want)
		}
		d, _ := evs.Data[1].InvoiceData()
		if d.Reason != "sender verified by phone" || d.PaymentStatus != "confirmed" {
			t.Errorf("payment.released data: %+v", d)
		}
		// Delivered in order of sequence, each with its own.
		var ds wireList[wireDelivery]
		e.call(e.secret, "GET", "/v1/webhook_endpoints/"+ep.ID+"/deliveries", "", 200, &ds)
		if len(ds.Data) != 3 {
			t.Fatalf("deliveries: %+v", ds.Data)
		}
		seq := map[string]int64{}
		for _, dl := range ds.Data {
			_, body := rec.wait(t, dl.ID)
			var ev client.Event
			if err := json.Unmarshal(body, &ev); err != nil {
				t.Fatal(err)
			}
			seq[ev.Type] = ev.Sequence
		}
		if seq["payment.released"] != 2 || seq["invoice.settled"] != 3 {
			t.Errorf("delivered sequences %v; want payment.released 2, invoice.settled 3", seq)
		}

		var audit wireList[struct {
			Actor, Action, Target string
			Details               map[string]any
		}]
		e.call(e.secret, "GET", "/v1/audit_events?action=payment.released", "", 200, &audit)
		if len(audit.Data) != 1 || audit.Data[0].Actor != e.key.ID || audit.Data[0].Target != pid ||
			audit.Data[0].Details["reason"] != "sender verified by phone" || audit.Data[0].Details["invoice_id"] != inv.ID {
			t.Errorf("audit entries: %+v", audit.Data)
		}
	})
}

// TestReleasePaymentRefusals: bad requests name the field and change
// nothing: the payment stays held, no event, no audit entry.
func TestReleasePaymentRefusals(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		inv, err := e.c.CreateInvoice(ctx, usdInvoice("o-1"))
		if err != nil {
			t.Fatal(err)
		}
		pid := holdPayment(t, e, inv.ID, cryptopay.PaymentHeld, 0)
		pending := holdPayment(t, e, inv.ID, cryptopay.PaymentOutsideWindow, 0)
		readOnly, _ := e.newKey(gateway.KeyParams{Name: "read only", Scopes: []string{"invoices:read"}})
		other := e.newStore("Other shop")
		otherSecret, _ := e.newKey(gateway.KeyParams{Name: "other", StoreID: other.ID, Scopes: allScopes()})
		path := "/v1/invoices/" + inv.ID + "/payments/" + pid + "/release"
		cases := []struct {
			name, secret, path, body string
			status                   int
			code, param              string
		}{
			{"no body", e.secret, path, "", 400, "invalid_request", ""},
			{"reason missing", e.secret, path, `{}`, 400, "invalid_request", "reason"},
			{"reason empty", e.secret, path, `{"reason":""}`, 400, "invalid_request", "reason"},
			{"reason too long", e.secret, path, `{"reason":"` + strings.Repeat("x", 501) + `"}`, 400, "invalid_request", "reason"},
			{"unknown field", e.secret, path, `{"reason":"ok","status":"confirmed"}`, 400, "invalid_request", "status"},
			{"not a payment id", e.secret, "/v1/invoices/" + inv.ID + "/payments/nope/release", `{"reason":"ok"}`, 400, "invalid_request", "payment_id"},
			{"unknown payment", e.secret, "/v1/invoices/" + inv.ID + "/payments/pay_01aaaaaaaaaaaaaaaaaaaaaaaa/release", `{"reason":"ok"}`, 404, "not_found", ""},
			{"unknown invoice", e.secret, "/v1/invoices/inv_01aaaaaaaaaaaaaaaaaaaaaaaa/payments/" + pid + "/release", `{"reason":"ok"}`, 404, "not_found", ""},
			{"another store's invoice", otherSecret, path, `{"reason":"ok"}`, 404, "not_found", ""},
			{"without invoices:write", readOnly, path, `{"reason":"ok"}`, 403, "forbidden", ""},
			{"a payment that is not held", e.secret, "/v1/invoices/" + inv.ID + "/payments/" + pending + "/release", `{"reason":"ok"}`, 409, "invalid_state", "payment_id"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := e.raw("POST", tc.path, "Bearer "+tc.secret, map[string]string{"Content-Type": "application/json"}, tc.body)
				if r.status != tc.status || r.err.Code != tc.code || r.err.Param != tc.param {
					t.Errorf("%d %s (param %q): %s; want %d %s (param %q)", r.status, r.err.Code, r.err.Param, r.body, tc.status, tc.code, tc.param)
				}
			})
		}
		got, err := e.c.GetInvoice(ctx, inv.ID)
		if err != nil || !slices.Contains(got.Flags, "held") || got.AmountPaid != "0.00000000" {
			t.Errorf("after refused releases: %+v, %v", got, err)
		}
		for _, p := range got.Payments {
			if p.ReleasedAt != nil || p.Status != "held" && p.Status != "outside_window" {
				t.Errorf("payment after refused releases: %+v", p)
			}
		}
		evs, err := e.c.ListEvents(ctx, client.ListEventsParams{Invoice: inv.ID})
		if err != nil || len(evs.Data) != 1 {
			t.Errorf("events after refused releases: %+v, %v", evs, err)
		}
		var audit wireList[json.RawMessage]
		e.call(e.secret, "GET", "/v1/audit_events?action=payment.released", "", 200, &audit)
		if len(audit.Data) != 0 {
			t.Errorf("refused releases were audited: %s", audit.Data)
		}
	})
}

// TestReleasePaymentConcurrently: retries racing each other (without an
// Idempotency-Key) release the payment once: every request answers 200
// with the same released_at, one payment.released event, one audit entry.
func TestReleasePaymentConcurrently(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		inv, err := e.c.CreateInvoice(ctx, usdInvoice("o-1"))
		if err != nil {
			t.Fatal(err)
		}
		pid := holdPayment(t, e, inv.ID, cryptopay.PaymentHeld, 0)
		const n = 8
		got := make(chan string, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				r, err := e.c.ReleasePayment(ctx, inv.ID, pid, "reviewed")
				if err != nil {
					t.Error(err)
					return
				}
				got <- r.Payments[0].ReleasedAt.String()
			})
		}
		wg.Wait()
		close(got)
		seen := map[string]int{}
		for at := range got {
			seen[at]++
		}
		if len(seen) != 1 {
			t.Errorf("released_at across %d concurrent releases: %v, want one value", n, seen)
		}
		evs, err := e.c.ListEvents(ctx, client.ListEventsParams{Invoice: inv.ID, Type: "payment.released"})
		if err != nil || len(evs.Data) != 1 {
			t.Errorf("payment.released events: %+v, %v; want one", evs, err)
		}
		var audit wireList[json.RawMessage]
		e.call(e.secret, "GET", "/v1/audit_events?action=payment.released", "", 200, &audit)
		if len(audit.Data) != 1 {
			t.Errorf("%d audit entries, want 1", len(audit.Data))
		}
	})
}
