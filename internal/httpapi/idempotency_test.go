package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/client"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// TestIdempotencyRecordsArePerKey: another API key of the same store that
// sends the same Idempotency-Key and body does not replay (and so read) the
// first key's response; its request runs on its own.
func TestIdempotencyRecordsArePerKey(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		first, err := e.c.CreateInvoice(ctx, usdInvoice("per-key"), client.WithIdempotencyKey("shared"))
		if err != nil {
			t.Fatal(err)
		}
		otherSecret, _ := e.newKey(gateway.KeyParams{Name: "other", Scopes: []string{"invoices:write"}})
		var h http.Header
		inv, err := e.client(otherSecret).CreateInvoice(ctx, usdInvoice("per-key"), client.WithIdempotencyKey("shared"), client.WithResponseHeader(&h))
		if inv != nil || h.Get("Idempotent-Replayed") != "" {
			t.Fatalf("another key of the store replayed the first key's response: %+v (Idempotent-Replayed %q)", inv, h.Get("Idempotent-Replayed"))
		}
		// It ran: the order id is taken, so it is the ordinary conflict.
		if ae := apiError(t, err, http.StatusConflict, "conflict"); !strings.Contains(ae.Message, first.ID) {
			t.Errorf("conflict %q does not name %s", ae.Message, first.ID)
		}
		// The first key still replays its own.
		again, err := e.c.CreateInvoice(ctx, usdInvoice("per-key"), client.WithIdempotencyKey("shared"))
		if err != nil || again.ID != first.ID {
			t.Errorf("own replay: %+v, %v", again, err)
		}
	})
}

// TestIdempotencyNeverReplaysSecrets: a response that carried a secret (a
// new API key, a rotated key, a webhook signing secret) is never stored and
// never shown again; a replay is 409 idempotency_secret_shown_once and
// creates nothing.
func TestIdempotencyNeverReplaysSecrets(t *testing.T) {
	forEachEngineWith(t, true, func(t *testing.T, e *env) {
		rec := newReceiver(t)
		bearer := "Bearer " + e.secret
		ct := map[string]string{"Content-Type": "application/json"}
		_, sub := e.newKey(gateway.KeyParams{Name: "sub", Scopes: []string{"invoices:read"}, TTL: 24 * time.Hour})
		for _, tc := range []struct {
			name, path, body, secretField string
		}{
			{"api key", "/v1/api_keys", `{"name":"n","scopes":["invoices:read"]}`, "secret"},
			{"rotated api key", "/v1/api_keys/" + sub.ID + "/rotate", `{"grace_period":0}`, "secret"},
			{"webhook endpoint", "/v1/webhook_endpoints", `{"url":"` + rec.srv.URL + `"}`, "secret"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				hdr := map[string]string{"Content-Type": ct["Content-Type"], "Idempotency-Key": "secret-" + tc.name}
				first := e.raw("POST", tc.path, bearer, hdr, tc.body)
				var got map[string]any
				if first.status != http.StatusCreated || json.Unmarshal(first.body, &got) != nil {
					t.Fatalf("first request: %d %s", first.status, first.body)
				}
				secret, _ := got[tc.secretField].(string)
				if secret == "" {
					t.Fatalf("no secret in %s", first.body)
				}
				before := e.counts()
				again := e.raw("POST", tc.path, bearer, hdr, tc.body)
				if again.status != http.StatusConflict || again.err.Code != "idempotency_secret_shown_once" || again.err.Param != "Idempotency-Key" {
					t.Errorf("replay: %d %s", again.status, again.body)
				}
				if bytes.Contains(again.body, []byte(secret)) {
					t.Error("the replay shows the secret again")
				}
				if after := e.counts(); after != before {
					t.Errorf("the replay wrote: %+v → %+v", before, after)
				}
				// A different request under the same key is still a mismatch.
				if r := e.raw("POST", tc.path, bearer, hdr, strings.Replace(tc.body, "{", `{"description":"x",`, 1)); r.status != http.StatusUnprocessableEntity {
					t.Errorf("different body: %d %s", r.status, r.body)
				}
				// Nowhere in the idempotency store, in any form.
				rows, err := e.db.SQL().QueryContext(context.Background(), `SELECT body FROM idempotency_records`)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				for rows.Next() {
					var b []byte
					if err := rows.Scan(&b); err != nil {
						t.Fatal(err)
					}
					if bytes.Contains(b, []byte(secret)) {
						t.Errorf("an idempotency record holds the secret: %s", b)
					}
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
}

// TestIdempotencyConcurrentDuplicates sends the same request with the same
// Idempotency-Key many times at once. Exactly one effect happens; every
// other answer is 409 idempotency_in_progress or, once the first has
// committed, idempotency_secret_shown_once. API key creation and rotation
// are used because nothing else (an order id, a revoked key) would
// deduplicate them.
func TestIdempotencyConcurrentDuplicates(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, sub := e.newKey(gateway.KeyParams{Name: "sub", Scopes: []string{"invoices:read"}, TTL: 24 * time.Hour})
		for _, tc := range []struct{ name, path, body string }{
			{"create", "/v1/api_keys", `{"name":"burst","scopes":["invoices:read"]}`},
			{"rotate", "/v1/api_keys/" + sub.ID + "/rotate", `{"grace_period":3600}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := e.counts()
				const n = 16
				type answer struct {
					status   int
					code     string
					replayed bool
				}
				answers := make([]answer, n)
				var wg sync.WaitGroup
				start := make(chan struct{})
				hdr := map[string]string{"Content-Type": "application/json", "Idempotency-Key": "burst-" + tc.name}
				for i := range n {
					wg.Go(func() {
						<-start
						r := e.raw("POST", tc.path, "Bearer "+e.secret, hdr, tc.body)
						answers[i] = answer{r.status, r.err.Code, r.header.Get("Idempotent-Replayed") == "true"}
					})
				}
				close(start)
				wg.Wait()
				created := 0
				for i, a := range answers {
					switch {
					case a.status == http.StatusCreated && !a.replayed:
						created++
					case a.status == http.StatusConflict && (a.code == "idempotency_in_progress" || a.code == "idempotency_secret_shown_once"):
					default:
						t.Errorf("request %d: %+v", i, a)
					}
				}
				if after := e.counts(); created != 1 || after.keys != before.keys+1 {
					t.Errorf("%d requests succeeded and the store went from %d to %d keys; want exactly one", created, before.keys, after.keys)
				}
			})
		}
	})
}

// TestIdempotencyStates covers the answers a record gives: a pending record
// (the effect committed, the response not yet recorded) is 409
// idempotency_in_progress; a request that failed left no record, so a
// corrected retry under the same key runs.
func TestIdempotencyStates(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		body := validInvoice("pending", "")
		sum := sha256.Sum256(bytes.Join([][]byte{[]byte("POST"), []byte("/v1/invoices"), []byte(body)}, []byte{0}))
		err := e.db.InTx(ctx, func(tx storage.Tx) error {
			return tx.PutIdempotencyRecord(ctx, &storage.IdempotencyRecord{APIKeyID: e.key.ID, Key: "pending",
				Method: "POST", Path: "/v1/invoices", RequestHash: sum[:], State: storage.IdempotencyPending, CreatedAt: e.svc.Now()})
		})
		if err != nil {
			t.Fatal(err)
		}
		before := e.counts()
		hdr := map[string]string{"Content-Type": "application/json", "Idempotency-Key": "pending"}
		r := e.raw("POST", "/v1/invoices", "Bearer "+e.secret, hdr, body)
		if r.status != http.StatusConflict || r.err.Code != "idempotency_in_progress" || r.err.Type != "idempotency_error" {
			t.Errorf("pending record: %d %s", r.status, r.body)
		}
		if after := e.counts(); after != before {
			t.Errorf("a request whose key is in progress wrote: %+v → %+v", before, after)
		}

		hdr["Idempotency-Key"] = "fix-and-retry"
		if r := e.raw("POST", "/v1/invoices", "Bearer "+e.secret, hdr, `{"order_id":"retry","amount":"-1","currency":"USD"}`); r.status != http.StatusBadRequest {
			t.Fatalf("invalid request: %d %s", r.status, r.body)
		}
		if r := e.raw("POST", "/v1/invoices", "Bearer "+e.secret, hdr, validInvoice("retry", "")); r.status != http.StatusCreated {
			t.Errorf("corrected retry under the key of a failed request: %d %s", r.status, r.body)
		}
	})
}
