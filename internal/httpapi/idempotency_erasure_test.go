package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/shred"
)

// TestIdempotencyRecordsAreErased, on both engines: the response an
// idempotency record keeps for an invoice with a customer_reference holds
// neither the reference nor personal metadata in any readable form (the
// raw row is read from the database), replays byte for byte while the
// customer exists, and after DELETE /v1/customers/{ref} cannot be opened
// at all; a replay then still answers the same invoice with the first
// status, its personal fields empty, and a changed request under the key
// is still refused. A response without a customer is kept as it was sent.
func TestIdempotencyRecordsAreErased(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		kr, _ := fieldcrypt.NewKeyring(fieldcrypt.Key{5})
		v, err := shred.Open(ctx, filepath.Join(t.TempDir(), "vault.db"), kr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		e.svc.SetVault(v)
		auth := "Bearer " + e.secret
		const ref, note = "user_8731", "ring twice at the blue door"
		body := `{"order_id":"o-1","amount":"10.00","currency":"USD","customer_reference":"` + ref + `","metadata":{"personal_note":"` + note + `","sku":"A-1"}}`
		idem := map[string]string{"Idempotency-Key": "create-o-1"}

		first := e.raw("POST", "/v1/invoices", auth, idem, body)
		if first.status != 201 || !strings.Contains(string(first.body), ref) || !strings.Contains(string(first.body), note) {
			t.Fatalf("create: %d %s", first.status, first.body)
		}
		var created struct{ ID string }
		_ = json.Unmarshal(first.body, &created)

		rawRecord := func(key string) []byte {
			t.Helper()
			q := `SELECT body FROM idempotency_records WHERE key = ?`
			if e.engine == "postgres" {
				q = `SELECT body FROM idempotency_records WHERE key = $1`
			}
			var b []byte
			if err := e.db.SQL().QueryRowContext(ctx, q, key).Scan(&b); err != nil {
				t.Fatal(err)
			}
			return b
		}
		readable := func(b []byte) string {
			for _, secret := range []string{ref, note} {
				for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)),
					base64.RawStdEncoding.EncodeToString([]byte(secret)), base64.URLEncoding.EncodeToString([]byte(secret))} {
					if strings.Contains(string(b), form) {
						return form
					}
				}
			}
			return ""
		}
		if f := readable(rawRecord("create-o-1")); f != "" {
			t.Fatalf("the stored response holds %q readable", f)
		}
		if r := e.raw("POST", "/v1/invoices", auth, idem, body); r.status != 201 || string(r.body) != string(first.body) ||
			r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay before erasure: %d %s; want the first response byte for byte", r.status, r.body)
		}

		if r := e.raw("DELETE", "/v1/customers/"+ref, auth, nil, ""); r.status != 200 {
			t.Fatalf("erase: %d %s", r.status, r.body)
		}
		after := rawRecord("create-o-1")
		if f := readable(after); f != "" {
			t.Fatalf("after erasure the stored response holds %q readable", f)
		}
		if _, id, err := e.svc.OpenStoredResponse(ctx, after); !errors.Is(err, gateway.ErrStoredResponseErased) || id != created.ID {
			t.Fatalf("opening the stored response after erasure: invoice %q, %v; want %s and erased", id, err, created.ID)
		}

		replay := e.raw("POST", "/v1/invoices", auth, idem, body)
		var got struct {
			ID                string            `json:"id"`
			CustomerReference *string           `json:"customer_reference"`
			Metadata          map[string]string `json:"metadata"`
		}
		if err := json.Unmarshal(replay.body, &got); err != nil || replay.status != 201 || replay.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay after erasure: %d %s", replay.status, replay.body)
		}
		if got.ID != created.ID || got.CustomerReference != nil && *got.CustomerReference != "" ||
			got.Metadata["personal_note"] != "" || got.Metadata["sku"] != "A-1" || readable(replay.body) != "" {
			t.Fatalf("replay after erasure: %s; want the same invoice, its personal fields empty", replay.body)
		}
		if r := e.raw("POST", "/v1/invoices", auth, idem, strings.Replace(body, "10.00", "11.00", 1)); r.status != 422 || r.err.Code != "idempotency_mismatch" {
			t.Fatalf("a changed request under the key after erasure: %d %+v", r.status, r.err)
		}
		if n := e.counts().invoices; n != 1 {
			t.Fatalf("%d invoices; the replays made new ones", n)
		}

		// No customer: nothing personal, kept as sent.
		plain := e.raw("POST", "/v1/invoices", auth, map[string]string{"Idempotency-Key": "create-o-2"}, `{"order_id":"o-2","amount":"5.00","currency":"USD"}`)
		if plain.status != 201 || string(rawRecord("create-o-2")) != string(plain.body) {
			t.Fatalf("a response without a customer is stored as %q, sent as %q", rawRecord("create-o-2"), plain.body)
		}
	})
}
