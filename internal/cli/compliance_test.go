package cli

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// TestCryptoShreddingReachesBackups is the erasure proof: a real encrypted
// backup is taken while a customer's data is readable, the customer is
// erased, the backup is restored into a new database, and there the
// customer's personal fields are ciphertext that cannot be opened, while
// amounts and addresses are intact and another customer's data still
// reads. Export before the erasure returns everything held about the
// reference; erasure is audited and idempotent.
func TestCryptoShreddingReachesBackups(t *testing.T) {
	dir := t.TempDir()
	e := &secEnv{t: t, vars: map[string]string{
		"CRYPTOPAY_DATA_DIR":          dir,
		"CRYPTOPAY_BACKUP_PASSPHRASE": "correct horse battery staple",
	}}
	e.vars["CRYPTOPAY_ENCRYPTION_KEY"] = strings.TrimSpace(e.must("encryption", "keygen"))
	e.must("migrate")
	env := Env{Getenv: func(k string) string { return e.vars[k] }}

	type made struct {
		store string
		alice []*cryptopay.Invoice
		bob   *cryptopay.Invoice
	}
	m := withTestApp(t, env, func(a *app) made {
		st, err := a.svc.CreateStore(t.Context(), gateway.StoreParams{Name: "shop", AllowPII: true,
			Wallets: []gateway.WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: regtestAccountKey(t)}}})
		if err != nil {
			t.Fatal(err)
		}
		k, err := a.svc.CreateKey(t.Context(), gateway.KeyParams{StoreID: st.ID, Name: "shop", Scopes: []string{"invoices:write"}})
		if err != nil {
			t.Fatal(err)
		}
		create := func(order, ref string, meta map[string]string) *cryptopay.Invoice {
			inv, err := a.svc.CreateInvoice(t.Context(), k.Key, gateway.InvoiceParams{OrderID: order, Amount: "0.001", Currency: "BTC",
				CustomerReference: ref, Metadata: meta})
			if err != nil {
				t.Fatal(err)
			}
			return inv
		}
		return made{st.ID,
			[]*cryptopay.Invoice{
				create("o-1", "user_42", map[string]string{"email": "alice@example.com", "sku": "A-1"}),
				create("o-2", "user_42", map[string]string{"personal_note": "leave at door"}),
			},
			create("o-3", "user_7", map[string]string{"email": "bob@example.com"})}
	})

	// Export: every invoice of the reference, its personal fields in the
	// clear, nothing of another customer's.
	var x struct {
		CustomerReference string `json:"customer_reference"`
		Erased            bool
		Invoices          []struct {
			ID                string
			CustomerReference string `json:"customer_reference"`
			Metadata          map[string]string
			Amount            string
			Address           string
		}
	}
	if err := json.Unmarshal([]byte(e.must("customers", "export", "--store", m.store, "--ref", "user_42")), &x); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, inv := range x.Invoices {
		ids = append(ids, inv.ID)
		if inv.CustomerReference != "user_42" || inv.Amount != "0.00100000" || inv.Address == "" {
			t.Errorf("exported invoice %+v", inv)
		}
	}
	if !slices.Equal(ids, []string{m.alice[0].ID, m.alice[1].ID}) || x.Invoices[0].Metadata["email"] != "alice@example.com" ||
		x.Invoices[0].Metadata["sku"] != "A-1" || x.Invoices[1].Metadata["personal_note"] != "leave at door" {
		t.Fatalf("export = %+v; want both of user_42's invoices with their metadata", x)
	}

	backupFile := filepath.Join(dir, "before-erasure.db.age")
	e.must("backup", "--out", backupFile)

	if out := e.must("customers", "erase", "--store", m.store, "--ref", "user_42"); !strings.Contains(out, "erased subject") || !strings.Contains(out, "2 invoice(s)") {
		t.Fatalf("erase: %q", out)
	}
	if out := e.must("customers", "erase", "--store", m.store, "--ref", "user_42"); !strings.Contains(out, "already erased") {
		t.Fatalf("second erase: %q", out)
	}
	if code, _, errs := e.run("customers", "erase", "--store", m.store, "--ref", "user_999"); code != 1 || !strings.Contains(errs, "No data is held") {
		t.Fatalf("erase of an unknown reference: exit %d %q", code, errs)
	}
	if audit := e.must("audit", "list", "--store", m.store, "--action", gateway.AuditCustomerErased); strings.Count(audit, gateway.AuditCustomerErased) != 2 {
		t.Fatalf("want two audited erasures:\n%s", audit)
	}
	if out := e.must("customers", "export", "--store", m.store, "--ref", "user_42"); !strings.Contains(out, `"erased": true`) || strings.Contains(out, "alice") {
		t.Fatalf("export after erasure: %s", out)
	}

	// Restore the backup taken before the erasure and read it with the
	// gateway's keys and vault.
	restored := filepath.Join(dir, "restored.db")
	e.must("restore", backupFile, "--to", restored)
	e.vars["CRYPTOPAY_DATABASE_URL"] = restored
	withTestApp(t, env, func(a *app) any {
		for i, want := range m.alice {
			raw, err := a.db.GetInvoice(t.Context(), want.ID) // below the service: the stored value
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(raw.CustomerReference, "subj1:") || strings.Contains(raw.CustomerReference, "user_42") {
				t.Fatalf("restored raw customer_reference %q: want the subject envelope", raw.CustomerReference)
			}
			got, err := a.svc.GetInvoice(t.Context(), nil, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.CustomerReference != "" || got.Metadata["email"] != "" || got.Metadata["personal_note"] != "" {
				t.Fatalf("invoice %d in the restored backup still reads %q %v", i, got.CustomerReference, got.Metadata)
			}
			if got.Amount.Cmp(want.Amount) != 0 || got.Address != want.Address || got.CryptoDue.Cmp(want.CryptoDue) != 0 || got.OrderID != want.OrderID {
				t.Fatalf("financial fields changed: %+v", got)
			}
		}
		if got, _ := a.svc.GetInvoice(t.Context(), nil, m.alice[0].ID); got.Metadata["sku"] != "A-1" {
			t.Fatalf("a non-personal metadata value was lost: %v", got.Metadata)
		}
		bob, err := a.svc.GetInvoice(t.Context(), nil, m.bob.ID)
		if err != nil || bob.CustomerReference != "user_7" || bob.Metadata["email"] != "bob@example.com" {
			t.Fatalf("another customer's data no longer reads: %+v %v", bob, err)
		}
		return nil
	})
}

// TestIncidentCommands: freeze, revoke-keys and rotate-webhook-secrets
// from the command line, each listed by `incident status` until unfreeze;
// the rotation shows each new secret once and keeps no old one.
func TestIncidentCommands(t *testing.T) {
	e, env := loopbackEnv(t)
	type made struct{ store, key string }
	m := withTestApp(t, env, func(a *app) made {
		st := createRegtestStore(t, a)
		k, err := a.svc.CreateKey(t.Context(), gateway.KeyParams{StoreID: st.ID, Name: "shop", Scopes: []string{"invoices:write"}})
		if err != nil {
			t.Fatal(err)
		}
		return made{st.ID, k.Key.ID}
	})
	ep := field(t, e.must("webhooks", "create", "--store", m.store, "--url", "http://127.0.0.1:9/hook"), "id")

	if out := e.must("incident", "freeze", "--reason", "drill"); !strings.Contains(out, "frozen since") {
		t.Fatalf("freeze: %q", out)
	}
	if out := e.must("incident", "revoke-keys"); !strings.Contains(out, "revoked 1 API key(s)") || !strings.Contains(out, m.key) {
		t.Fatalf("revoke-keys: %q", out)
	}
	out := e.must("incident", "rotate-webhook-secrets")
	if !strings.Contains(out, ep) || strings.Count(out, "whsec_") != 1 || !strings.Contains(out, "old secrets overlap: 0s") {
		t.Fatalf("rotate-webhook-secrets: %q", out)
	}
	withTestApp(t, env, func(a *app) any {
		got, err := a.db.GetWebhookEndpoint(t.Context(), ep)
		if err != nil || got.PreviousSecret != "" || got.PreviousSecretExpiresAt != nil {
			t.Fatalf("endpoint keeps an old secret: %+v %v", got, err)
		}
		return nil
	})
	status := e.must("incident", "status")
	for _, want := range []string{"freeze", "revoke_keys", "rotate_webhook_secrets"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %s:\n%s", want, status)
		}
	}
	if out := e.must("incident", "unfreeze"); !strings.Contains(out, "3 action(s) closed") {
		t.Fatalf("unfreeze: %q", out)
	}
	if out := e.must("incident", "status"); !strings.Contains(out, "no incident in progress") {
		t.Fatalf("status after unfreeze: %q", out)
	}
	audit := e.must("audit", "list", "--action", gateway.AuditIncidentFreeze)
	if !strings.Contains(audit, gateway.AuditIncidentFreeze) {
		t.Fatalf("freeze not audited:\n%s", audit)
	}
}
