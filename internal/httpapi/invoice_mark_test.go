package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cryptopay/cryptopay/client"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/webhooksig"
)

// TestMarkInvoice: a shop settles an invoice by hand, then invalidates it
// (a refund). Each mark returns the invoice flagged marked, emits
// invoice.settled / invoice.invalid with data.marked and the reason and the
// next per-invoice sequence number, is delivered to the webhook endpoint
// with that sequence, and is audited with the reason and the key that did
// it. Marking an invoice with the state it has is 409 invalid_state and
// changes nothing; a retry with the same Idempotency-Key replays the first
// answer without a second event.
func TestMarkInvoice(t *testing.T) {
	forEachEngineWith(t, true, func(t *testing.T, e *env) {
		ctx := context.Background()
		rec := newReceiver(t)
		var ep wireEndpoint
		e.call(e.secret, "POST", "/v1/webhook_endpoints", `{"url":"`+rec.srv.URL+`/hook"}`, 201, &ep)
		inv, err := e.c.CreateInvoice(ctx, usdInvoice("o-1"))
		if err != nil {
			t.Fatal(err)
		}

		settled, err := e.c.MarkSettled(ctx, inv.ID, "paid the rest by bank transfer", client.WithIdempotencyKey("mark-1"))
		if err != nil {
			t.Fatal(err)
		}
		if settled.Status != "settled" || !slices.Contains(settled.Flags, "marked") || settled.SettledAt == nil ||
			settled.AmountPaid != inv.AmountPaid {
			t.Errorf("marked settled: status %s, flags %v, settled_at %v, paid %s", settled.Status, settled.Flags, settled.SettledAt, settled.AmountPaid)
		}
		var hdr http.Header
		again, err := e.c.MarkSettled(ctx, inv.ID, "paid the rest by bank transfer",
			client.WithIdempotencyKey("mark-1"), client.WithResponseHeader(&hdr))
		if err != nil || again.Status != "settled" || hdr.Get("Idempotent-Replayed") != "true" {
			t.Errorf("retry with the same Idempotency-Key: %+v, %v, replayed %q", again, err, hdr.Get("Idempotent-Replayed"))
		}
		_, err = e.c.MarkSettled(ctx, inv.ID, "once more")
		if ae := apiError(t, err, http.StatusConflict, "invalid_state"); !strings.Contains(ae.Message, "already settled") {
			t.Errorf("second mark_settled: %s", ae.Message)
		}

		invalid, err := e.c.MarkInvalid(ctx, inv.ID, "refunded: order cancelled")
		if err != nil {
			t.Fatal(err)
		}
		if invalid.Status != "invalid" || !slices.Contains(invalid.Flags, "marked") || invalid.SettledAt != nil {
			t.Errorf("marked invalid: status %s, flags %v, settled_at %v", invalid.Status, invalid.Flags, invalid.SettledAt)
		}
		_, err = e.c.MarkInvalid(ctx, inv.ID, "again")
		apiError(t, err, http.StatusConflict, "invalid_state")

		// The events, oldest first: created, then one per mark, numbered.
		evs, err := e.c.ListEvents(ctx, client.ListEventsParams{Invoice: inv.ID})
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(evs.Data)
		want := []struct {
			typ    string
			seq    int64
			reason string
		}{{"invoice.created", 1, ""}, {"invoice.settled", 2, "paid the rest by bank transfer"}, {"invoice.invalid", 3, "refunded: order cancelled"}}
		if len(evs.Data) != len(want) {
			t.Fatalf("events of the invoice: %+v", evs.Data)
		}
		for i, w := range want {
			ev := evs.Data[i]
			d, err := ev.InvoiceData()
			if err != nil {
				t.Fatal(err)
			}
			if ev.Type != w.typ || ev.Sequence != w.seq || d.Marked != (w.reason != "") || d.Reason != w.reason {
				t.Errorf("event %d: %s sequence %d marked %v reason %q; want %s %d %q", i, ev.Type, ev.Sequence, d.Marked, d.Reason, w.typ, w.seq, w.reason)
			}
		}

		// Delivered with the same sequence and data, signed as usual.
		var ds wireList[wireDelivery]
		e.call(e.secret, "GET", "/v1/webhook_endpoints/"+ep.ID+"/deliveries", "", 200, &ds)
		if len(ds.Data) != 3 {
			t.Fatalf("deliveries: %+v", ds.Data)
		}
		for _, d := range ds.Data {
			h, body := rec.wait(t, d.ID)
			if err := webhooksig.Verify(body, h.Get(webhooksig.HeaderSignature), ep.Secret); err != nil {
				t.Error(err)
			}
			var got client.Event
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(evs.Data, func(ev client.Event) bool { return ev.ID == got.ID })
			if i < 0 || got.Sequence != evs.Data[i].Sequence || string(got.Data) != string(evs.Data[i].Data) {
				t.Errorf("delivered %s (sequence %d): %s; listed as %+v", got.Type, got.Sequence, body, evs.Data)
			}
		}

		// Audited: who, why, from which state to which.
		var audit wireList[struct {
			Actor, Action, Target string
			Details               map[string]any
		}]
		e.call(e.secret, "GET", "/v1/audit_events?action=invoice.marked", "", 200, &audit)
		if len(audit.Data) != 2 {
			t.Fatalf("audit entries: %+v", audit.Data)
		}
		for i, w := range []map[string]any{
			{"from": "settled", "to": "invalid", "reason": "refunded: order cancelled"},
			{"from": "new", "to": "settled", "reason": "paid the rest by bank transfer"},
		} {
			a := audit.Data[i]
			if a.Actor != e.key.ID || a.Target != inv.ID || a.Details["from"] != w["from"] || a.Details["to"] != w["to"] ||
				a.Details["reason"] != w["reason"] || !strings.HasPrefix(a.Details["event_id"].(string), "evt_") {
				t.Errorf("audit entry %d: %+v; want actor %s, target %s, %v", i, a, e.key.ID, inv.ID, w)
			}
		}
	})
}

// TestMarkInvoiceRefusals: bad requests name the field and change nothing:
// no state change, no event, no audit entry.
func TestMarkInvoiceRefusals(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		inv, err := e.c.CreateInvoice(ctx, usdInvoice("o-1"))
		if err != nil {
			t.Fatal(err)
		}
		readOnly, _ := e.newKey(gateway.KeyParams{Name: "read only", Scopes: []string{"invoices:read"}})
		other := e.newStore("Other shop")
		otherSecret, _ := e.newKey(gateway.KeyParams{Name: "other", StoreID: other.ID, Scopes: allScopes()})
		long := strings.Repeat("x", 501)
		path := "/v1/invoices/" + inv.ID + "/mark_settled"
		cases := []struct {
			name, secret, path, body string
			status                   int
			code, param              string
		}{
			{"no body", e.secret, path, "", 400, "invalid_request", ""},
			{"reason missing", e.secret, path, `{}`, 400, "invalid_request", "reason"},
			{"reason empty", e.secret, path, `{"reason":""}`, 400, "invalid_request", "reason"},
			{"reason too long", e.secret, path, `{"reason":"` + long + `"}`, 400, "invalid_request", "reason"},
			{"reason with a control character", e.secret, path, `{"reason":"a\u0000b"}`, 400, "invalid_request", "reason"},
			{"reason not a string", e.secret, path, `{"reason":42}`, 400, "invalid_request", "reason"},
			{"unknown field", e.secret, path, `{"reason":"ok","status":"settled"}`, 400, "invalid_request", "status"},
			{"not an invoice id", e.secret, "/v1/invoices/nope/mark_invalid", `{"reason":"ok"}`, 400, "invalid_request", "id"},
			{"unknown invoice", e.secret, "/v1/invoices/inv_01aaaaaaaaaaaaaaaaaaaaaaaa/mark_settled", `{"reason":"ok"}`, 404, "not_found", ""},
			{"another store's invoice", otherSecret, path, `{"reason":"ok"}`, 404, "not_found", ""},
			{"without invoices:write", readOnly, path, `{"reason":"ok"}`, 403, "forbidden", ""},
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
		if err != nil || got.Status != "new" || slices.Contains(got.Flags, "marked") {
			t.Errorf("after refused marks: %+v, %v", got, err)
		}
		evs, err := e.c.ListEvents(ctx, client.ListEventsParams{Invoice: inv.ID})
		if err != nil || len(evs.Data) != 1 {
			t.Errorf("events after refused marks: %+v, %v", evs, err)
		}
		var audit wireList[json.RawMessage]
		e.call(e.secret, "GET", "/v1/audit_events?action=invoice.marked", "", 200, &audit)
		if len(audit.Data) != 0 {
			t.Errorf("refused marks were audited: %s", audit.Data)
		}
	})
}

// TestMarkInvoiceConcurrently: shop retries racing each other (without an
// Idempotency-Key) settle the invoice once: one 200, every other request
// 409 invalid_state, one event, one audit entry.
func TestMarkInvoiceConcurrently(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		inv, err := e.c.CreateInvoice(ctx, usdInvoice("o-1"))
		if err != nil {
			t.Fatal(err)
		}
		const n = 8
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, err := e.c.MarkSettled(ctx, inv.ID, "accepted the underpayment")
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		ok := 0
		for err := range errs {
			if err == nil {
				ok++
				continue
			}
			apiError(t, err, http.StatusConflict, "invalid_state")
		}
		if ok != 1 {
			t.Errorf("%d of %d concurrent marks succeeded, want 1", ok, n)
		}
		evs, err := e.c.ListEvents(ctx, client.ListEventsParams{Invoice: inv.ID, Type: "invoice.settled"})
		if err != nil || len(evs.Data) != 1 || evs.Data[0].Sequence != 2 {
			t.Errorf("invoice.settled events: %+v, %v; want one, sequence 2", evs, err)
		}
		var audit wireList[json.RawMessage]
		e.call(e.secret, "GET", "/v1/audit_events?action=invoice.marked", "", 200, &audit)
		if len(audit.Data) != 1 {
			t.Errorf("%d audit entries, want 1", len(audit.Data))
		}
	})
}
