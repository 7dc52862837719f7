package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/client"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

func TestInvoiceLifecycleThroughClient(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		inv, err := e.c.CreateInvoice(ctx, client.InvoiceParams{
			OrderID: "order-1", Amount: "100.00", Currency: "USD",
			Metadata: map[string]string{"sku": "tea"}, CustomerReference: "cust-9",
			RedirectURL: "https://shop.example/thanks", ExpiresIn: 30 * time.Minute,
		})
		if err != nil {
			t.Fatal(err)
		}
		// 100.00 USD at 65000.00 USD/BTC is 0.001538461538… BTC, rounded up
		// to the next satoshi so the merchant is never short.
		want := map[string]string{
			"object": inv.Object, "status": inv.Status, "amount": inv.Amount, "currency": inv.Currency,
			"network": inv.Network, "asset": inv.Asset, "crypto_amount": inv.CryptoAmount,
			"base_units": inv.CryptoAmountBaseUnits, "amount_due": inv.AmountDue, "amount_paid": inv.AmountPaid,
		}
		for k, v := range map[string]string{
			"object": "invoice", "status": "new", "amount": "100.00", "currency": "USD",
			"network": "bitcoin-regtest", "asset": "BTC", "crypto_amount": "0.00153847",
			"base_units": "153847", "amount_due": "0.00153847", "amount_paid": "0.00000000",
		} {
			if want[k] != v {
				t.Errorf("%s = %q, want %q", k, want[k], v)
			}
		}
		if inv.Rate == nil || *inv.Rate != "65000.00000000" {
			t.Errorf("rate = %v, want 65000.00000000", inv.Rate)
		}
		if inv.RequiredConfirmations != 12 { // 100 USD is in the guide's middle tier
			t.Errorf("required_confirmations = %d, want 12", inv.RequiredConfirmations)
		}
		if !strings.HasPrefix(inv.Address, "bcrt1q") || inv.PaymentURI != "bitcoin:"+inv.Address+"?amount=0.00153847" {
			t.Errorf("address %q, payment_uri %q", inv.Address, inv.PaymentURI)
		}
		if got := inv.ExpiresAt.Sub(inv.CreatedAt); got != 30*time.Minute {
			t.Errorf("expires %v after creation, want 30m", got)
		}
		if inv.Livemode || inv.Metadata["sku"] != "tea" || *inv.CustomerReference != "cust-9" || len(inv.Payments) != 0 {
			t.Errorf("unexpected invoice: %+v", inv)
		}

		got, err := e.c.GetInvoice(ctx, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != inv.ID || got.Address != inv.Address || got.CryptoAmount != inv.CryptoAmount {
			t.Errorf("GetInvoice = %+v, want %+v", got, inv)
		}

		// Priced in the asset: no rate, the amount is the crypto amount.
		btc, err := e.c.CreateInvoice(ctx, client.InvoiceParams{OrderID: "order-2", Amount: "0.0015", Currency: "BTC"})
		if err != nil {
			t.Fatal(err)
		}
		if btc.Rate != nil || btc.Amount != "0.0015" || btc.AmountNormalized != "0.00150000" || btc.CryptoAmount != "0.00150000" || btc.Address == inv.Address {
			t.Errorf("BTC-priced invoice: %+v", btc)
		}

		evs, err := e.c.ListEvents(ctx, client.ListEventsParams{Invoice: inv.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs.Data) != 1 || evs.Data[0].Type != "invoice.created" {
			t.Fatalf("events of %s: %+v", inv.ID, evs.Data)
		}
		d, err := evs.Data[0].InvoiceData()
		if err != nil {
			t.Fatal(err)
		}
		if d.InvoiceID != inv.ID || d.Amount != "100.00" || d.Currency != "USD" || d.OrderID != "order-1" {
			t.Errorf("event data %+v", d)
		}
		all, err := e.c.ListEvents(ctx, client.ListEventsParams{Type: "invoice.created"})
		if err != nil || len(all.Data) != 2 {
			t.Errorf("invoice.created events: %v, %v", all, err)
		}

		// Filters.
		l, err := e.c.ListInvoices(ctx, client.ListInvoicesParams{OrderID: "order-2"})
		if err != nil || len(l.Data) != 1 || l.Data[0].ID != btc.ID {
			t.Errorf("filter by order_id: %+v, %v", l, err)
		}
		l, err = e.c.ListInvoices(ctx, client.ListInvoicesParams{Status: "settled"})
		if err != nil || len(l.Data) != 0 {
			t.Errorf("filter by status: %+v, %v", l, err)
		}
	})
}

func TestPagination(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var ids []string
		for i := range 7 {
			inv, err := e.c.CreateInvoice(ctx, usdInvoice(fmt.Sprintf("page-%d", i)))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, inv.ID)
		}
		// Lists are ordered by id, newest first. Ids made in the same
		// millisecond order by their random tail, so the expected order is
		// the ids sorted, not the order of creation.
		slices.Sort(ids)
		slices.Reverse(ids)
		var seen []string
		after, pages := "", 0
		for {
			l, err := e.c.ListInvoices(ctx, client.ListInvoicesParams{Limit: 3, StartingAfter: after})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, inv := range l.Data {
				seen = append(seen, inv.ID)
			}
			if !l.HasMore {
				break
			}
			after = l.Data[len(l.Data)-1].ID
		}
		if pages != 3 || strings.Join(seen, ",") != strings.Join(ids, ",") {
			t.Errorf("%d pages, ids %v, want 3 pages of %v", pages, seen, ids)
		}
		var iterated []string
		for inv, err := range e.c.Invoices(ctx, client.ListInvoicesParams{Limit: 2}) {
			if err != nil {
				t.Fatal(err)
			}
			iterated = append(iterated, inv.ID)
		}
		if strings.Join(iterated, ",") != strings.Join(ids, ",") {
			t.Errorf("iterator gave %v, want %v", iterated, ids)
		}
	})
}

func TestIdempotentReplay(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var h1, h2 http.Header
		first, err := e.c.CreateInvoice(ctx, usdInvoice("idem-1"), client.WithIdempotencyKey("k-1"), client.WithResponseHeader(&h1))
		if err != nil {
			t.Fatal(err)
		}
		again, err := e.c.CreateInvoice(ctx, usdInvoice("idem-1"), client.WithIdempotencyKey("k-1"), client.WithResponseHeader(&h2))
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		if again.ID != first.ID || again.Address != first.Address {
			t.Errorf("replay returned %s, want %s", again.ID, first.ID)
		}
		if h1.Get("Idempotent-Replayed") != "" || h2.Get("Idempotent-Replayed") != "true" {
			t.Errorf("Idempotent-Replayed: first %q, replay %q", h1.Get("Idempotent-Replayed"), h2.Get("Idempotent-Replayed"))
		}
		before := e.counts()
		_, err = e.c.CreateInvoice(ctx, usdInvoice("idem-2"), client.WithIdempotencyKey("k-1"))
		ae := apiError(t, err, http.StatusUnprocessableEntity, "idempotency_mismatch")
		if ae.Param != "Idempotency-Key" {
			t.Errorf("param %q", ae.Param)
		}
		if after := e.counts(); after != before {
			t.Errorf("a refused replay wrote: %+v → %+v", before, after)
		}
		// The same key from a key of another store is a different request
		// space: it creates, it does not replay.
		other := e.newStore("Other shop")
		secret, _ := e.newKey(gateway.KeyParams{StoreID: other.ID, Scopes: allScopes()})
		inv, err := e.client(secret).CreateInvoice(ctx, usdInvoice("idem-1"), client.WithIdempotencyKey("k-1"))
		if err != nil || inv.ID == first.ID || inv.StoreID != other.ID {
			t.Errorf("other store with the same Idempotency-Key: %+v, %v", inv, err)
		}
	})
}

func TestOrderIDConflictNamesExistingInvoice(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		first, err := e.c.CreateInvoice(ctx, usdInvoice("dup"))
		if err != nil {
			t.Fatal(err)
		}
		before := e.counts()
		_, err = e.c.CreateInvoice(ctx, usdInvoice("dup"))
		ae := apiError(t, err, http.StatusConflict, "conflict")
		if ae.Param != "order_id" || !strings.Contains(ae.Message, first.ID) {
			t.Errorf("conflict %+v does not name %s", ae, first.ID)
		}
		if after := e.counts(); after != before {
			t.Errorf("a conflict wrote: %+v → %+v", before, after)
		}
	})
}

func TestScopes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		readSecret, _ := e.newKey(gateway.KeyParams{Name: "reader", Scopes: []string{"invoices:read", "keys:write"}})
		reader := e.client(readSecret)
		_, err := reader.CreateInvoice(ctx, usdInvoice("scoped"))
		ae := apiError(t, err, http.StatusForbidden, "forbidden")
		if !strings.Contains(ae.Message, "invoices:write") {
			t.Errorf("403 does not name the missing scope: %q", ae.Message)
		}
		if _, err := reader.ListInvoices(ctx, client.ListInvoicesParams{}); err != nil {
			t.Errorf("invoices:read key cannot list: %v", err)
		}
		_, err = reader.ListEvents(ctx, client.ListEventsParams{})
		if ae := apiError(t, err, http.StatusForbidden, "forbidden"); !strings.Contains(ae.Message, "events:read") {
			t.Errorf("message %q", ae.Message)
		}
		// A key cannot mint a key with more than it holds.
		before := e.counts()
		_, err = reader.CreateAPIKey(ctx, client.APIKeyParams{Scopes: []string{"invoices:read", "invoices:write"}})
		ae = apiError(t, err, http.StatusForbidden, "api_key_exceeds_caller")
		if ae.Param != "scopes" || !strings.Contains(ae.Message, "invoices:write") {
			t.Errorf("escalation refusal %+v", ae)
		}
		if after := e.counts(); after != before {
			t.Errorf("a refused key creation wrote: %+v → %+v", before, after)
		}
		// Within its scopes it may.
		k, err := reader.CreateAPIKey(ctx, client.APIKeyParams{Name: "sub", Scopes: []string{"invoices:read"}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(k.Secret, "cp_test_") || k.Livemode || k.Last4 != k.Secret[len(k.Secret)-4:] {
			t.Errorf("created key %+v", k)
		}
		if _, err := e.client(k.Secret).ListInvoices(ctx, client.ListInvoicesParams{}); err != nil {
			t.Errorf("new key does not work: %v", err)
		}
	})
}

func TestTestKeyCannotUseLiveNetwork(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		before := e.counts()
		p := usdInvoice("live")
		p.Network = "bitcoin"
		_, err := e.c.CreateInvoice(context.Background(), p)
		if ae := apiError(t, err, http.StatusForbidden, "forbidden"); ae.Param != "network" {
			t.Errorf("param %q", ae.Param)
		}
		if after := e.counts(); after != before {
			t.Errorf("wrote: %+v → %+v", before, after)
		}
	})
}

func TestKeyManagement(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		old, err := e.c.CreateAPIKey(ctx, client.APIKeyParams{Name: "checkout", Scopes: []string{"invoices:read"}, AllowedIPs: []string{"127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.c.GetAPIKey(ctx, old.ID)
		if err != nil || got.Secret != "" || got.Name != "checkout" || strings.Join(got.AllowedIPs, ",") != "127.0.0.1/32" {
			t.Errorf("GetAPIKey = %+v, %v (the secret must never be shown again)", got, err)
		}
		list, err := e.c.ListAPIKeys(ctx)
		if err != nil || len(list.Data) != 2 {
			t.Fatalf("ListAPIKeys = %+v, %v", list, err)
		}
		for _, k := range list.Data {
			if k.Secret != "" {
				t.Errorf("list shows a secret for %s", k.ID)
			}
		}

		// Rotation with the default grace: both keys work.
		oldC := e.client(old.Secret)
		rotated, err := e.c.RotateAPIKey(ctx, old.ID, client.RotateAPIKeyParams{})
		if err != nil {
			t.Fatal(err)
		}
		if rotated.Secret == "" || rotated.Name != "checkout" || strings.Join(rotated.Scopes, ",") != "invoices:read" {
			t.Errorf("rotated key %+v", rotated)
		}
		if _, err := oldC.ListInvoices(ctx, client.ListInvoicesParams{}); err != nil {
			t.Errorf("old key stopped inside its grace period: %v", err)
		}
		if _, err := e.client(rotated.Secret).ListInvoices(ctx, client.ListInvoicesParams{}); err != nil {
			t.Errorf("new key does not work: %v", err)
		}
		if k, _ := e.c.GetAPIKey(ctx, old.ID); k == nil || k.RotatedTo == nil || *k.RotatedTo != rotated.ID {
			t.Errorf("old key does not point at its replacement: %+v", k)
		}
		// Rotating again with grace 0 ends the old key at once.
		zero := time.Duration(0)
		third, err := e.c.RotateAPIKey(ctx, rotated.ID, client.RotateAPIKeyParams{GracePeriod: &zero})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.client(rotated.Secret).ListInvoices(ctx, client.ListInvoicesParams{})
		apiError(t, err, http.StatusUnauthorized, "unauthenticated")
		// The first key's grace ends too once the clock passes it.
		e.clock.advance(cryptopay.DefaultKeyGrace + time.Second)
		_, err = oldC.ListInvoices(ctx, client.ListInvoicesParams{})
		apiError(t, err, http.StatusUnauthorized, "unauthenticated")

		// Revocation is immediate, and revoking twice is a conflict.
		if _, err := e.client(third.Secret).ListInvoices(ctx, client.ListInvoicesParams{}); err != nil {
			t.Fatal(err)
		}
		rk, err := e.c.RevokeAPIKey(ctx, third.ID)
		if err != nil || rk.RevokedAt == nil {
			t.Fatalf("revoke: %+v, %v", rk, err)
		}
		_, err = e.client(third.Secret).ListInvoices(ctx, client.ListInvoicesParams{})
		apiError(t, err, http.StatusUnauthorized, "unauthenticated")
		_, err = e.c.RevokeAPIKey(ctx, third.ID)
		apiError(t, err, http.StatusConflict, "conflict")

		// Another store's key is invisible.
		other := e.newStore("Other")
		_, ok := e.newKey(gateway.KeyParams{StoreID: other.ID, Scopes: []string{"invoices:read"}})
		_, err = e.c.GetAPIKey(ctx, ok.ID)
		apiError(t, err, http.StatusNotFound, "not_found")
	})
}

func TestAuthFailures(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		expiring, _ := e.newKey(gateway.KeyParams{Scopes: []string{"invoices:read"}, TTL: 2 * time.Hour})
		fenced, _ := e.newKey(gateway.KeyParams{Scopes: []string{"invoices:read"}, AllowedIPs: []string{"10.0.0.0/8"}})
		unknown := cryptopay.NewAPIKeySecret(false)

		cases := []struct {
			name   string
			secret string
			status int
			code   string
			reason gateway.AuthFailure
		}{
			{"missing", "", 401, "unauthenticated", gateway.AuthMissing},
			{"malformed", "cp_test_short", 401, "unauthenticated", gateway.AuthMalformed},
			{"bad checksum", unknown[:len(unknown)-1] + flip(unknown[len(unknown)-1]), 401, "unauthenticated", gateway.AuthMalformed},
			{"unknown", unknown, 401, "unauthenticated", gateway.AuthUnknown},
			{"ip not allowed", fenced, 403, "forbidden", gateway.AuthIP},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := e.svc.AuthFailures()[tc.reason]
				_, err := e.client(tc.secret).ListInvoices(ctx, client.ListInvoicesParams{})
				ae := apiError(t, err, tc.status, tc.code)
				if tc.status == 401 && !strings.Contains(ae.Message, "Invalid API key") {
					t.Errorf("401 message %q is not the generic one", ae.Message)
				}
				if got := e.svc.AuthFailures()[tc.reason]; got != before+1 {
					t.Errorf("AuthFailures[%s] went %d → %d, want +1", tc.reason, before, got)
				}
			})
		}
		t.Run("scheme not bearer", func(t *testing.T) {
			before := e.svc.AuthFailures()[gateway.AuthMalformed]
			req, _ := http.NewRequest("GET", e.srv.URL+"/v1/invoices", nil)
			req.Header.Set("Authorization", "Basic "+e.secret)
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 || e.svc.AuthFailures()[gateway.AuthMalformed] != before+1 {
				t.Errorf("status %d, malformed count %d → %d", resp.StatusCode, before, e.svc.AuthFailures()[gateway.AuthMalformed])
			}
		})
		t.Run("expired", func(t *testing.T) {
			c := e.client(expiring)
			if _, err := c.ListInvoices(ctx, client.ListInvoicesParams{}); err != nil {
				t.Fatalf("fresh key refused: %v", err)
			}
			before := e.svc.AuthFailures()[gateway.AuthExpired]
			e.clock.advance(3 * time.Hour)
			_, err := c.ListInvoices(ctx, client.ListInvoicesParams{})
			apiError(t, err, http.StatusUnauthorized, "unauthenticated")
			if got := e.svc.AuthFailures()[gateway.AuthExpired]; got != before+1 {
				t.Errorf("expired count %d → %d", before, got)
			}
		})
		t.Run("ip allowed", func(t *testing.T) {
			local, _ := e.newKey(gateway.KeyParams{Scopes: []string{"invoices:read"}, AllowedIPs: []string{netip.MustParseAddr("127.0.0.1").String()}})
			if _, err := e.client(local).ListInvoices(ctx, client.ListInvoicesParams{}); err != nil {
				t.Errorf("allowed address refused: %v", err)
			}
		})
	})
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestExpiryWarningHeader(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		soon, k := e.newKey(gateway.KeyParams{Scopes: []string{"invoices:read"}, TTL: 10 * 24 * time.Hour})
		var warned []string
		c := e.client(soon, client.WithKeyExpiryWarning(func(w string) { warned = append(warned, w) }))
		if _, err := c.ListInvoices(ctx, client.ListInvoicesParams{}); err != nil {
			t.Fatal(err)
		}
		if len(warned) != 1 || !strings.Contains(warned[0], k.ID+"/rotate") {
			t.Errorf("key expiring in 10 days: warnings %q", warned)
		}
		var h http.Header
		if _, err := e.c.ListInvoices(ctx, client.ListInvoicesParams{}, client.WithResponseHeader(&h)); err != nil {
			t.Fatal(err)
		}
		if w := h.Get("CryptoPay-Key-Expiry-Warning"); w != "" {
			t.Errorf("90-day key warned: %q", w)
		}
		e.clock.advance(77 * 24 * time.Hour) // 13 days left
		if _, err := e.c.ListInvoices(ctx, client.ListInvoicesParams{}, client.WithResponseHeader(&h)); err != nil {
			t.Fatal(err)
		}
		if h.Get("CryptoPay-Key-Expiry-Warning") == "" {
			t.Error("no warning 13 days before expiry")
		}
	})
}

func TestConcurrentCreationDistinctAddresses(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const n = 32
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				inv, err := e.c.CreateInvoice(ctx, usdInvoice(fmt.Sprintf("conc-%d", i)))
				if err == nil {
					ids[i] = inv.ID
				}
				errs[i] = err
			})
		}
		wg.Wait()
		addrs, idx := map[string]bool{}, map[uint32]bool{}
		for i, id := range ids {
			if errs[i] != nil {
				t.Fatalf("create %d: %v", i, errs[i])
			}
			inv, err := e.db.GetInvoice(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			addrs[inv.Address], idx[inv.AddressIndex] = true, true
		}
		if len(addrs) != n || len(idx) != n {
			t.Fatalf("%d invoices got %d distinct addresses and %d distinct indexes", n, len(addrs), len(idx))
		}
		for i := range uint32(n) {
			if !idx[i] {
				t.Errorf("index %d was skipped: indexes must be dense so a wallet's gap limit finds every payment", i)
			}
		}
	})
}

func TestHealthAndReadiness(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			path string
			want string
		}{
			{"/healthz", `{"status":"ok"}`},
			{"/readyz", `{"checks":{"database":"ok","rates":"ok"},"status":"ready"}`}, // the env prices from a static table
		} {
			resp, err := e.srv.Client().Get(e.srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			var body any
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			b, _ := json.Marshal(body)
			if err != nil || resp.StatusCode != 200 || string(b) != tc.want {
				t.Errorf("%s: %d %s, want 200 %s", tc.path, resp.StatusCode, b, tc.want)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(resp.Header.Get("Request-Id"), "req_") {
				t.Errorf("%s: missing security or request-id headers: %v", tc.path, resp.Header)
			}
		}
		// A closed database makes the server unready, not down.
		if err := e.db.Close(); err != nil {
			t.Fatal(err)
		}
		resp, err := e.srv.Client().Get(e.srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("readyz over a closed database: %d, want 503", resp.StatusCode)
		}
	})
}

// TestReadinessHidesInternalDetails: a watcher's error names the node's
// host and port; /readyz says only which check failed.
func TestReadinessHidesInternalDetails(t *testing.T) {
	e := newEnv(t, engines()[0])
	node := errors.New(`bitcoin: getblockchaininfo: Post "http://10.20.30.40:8332": dial tcp 10.20.30.40:8332: connect: connection refused`)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"named failure", &NotReady{Public: "bitcoin watcher not ready", Err: node}, `"chain":"bitcoin watcher not ready"`},
		{"raw error", node, `"chain":"not ready"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := New(Config{Service: e.svc, Ready: func(context.Context) error { return tc.err }}).Handler()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			body := rec.Body.String()
			if rec.Code != http.StatusServiceUnavailable || !strings.Contains(body, tc.want) {
				t.Errorf("readyz = %d %s; want 503 with %s", rec.Code, body, tc.want)
			}
			for _, leak := range []string{"10.20.30.40", "8332", "dial tcp", "refused"} {
				if strings.Contains(body, leak) {
					t.Errorf("readyz body %s reveals %q", body, leak)
				}
			}
		})
	}
}
