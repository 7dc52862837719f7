package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// TestEncryptionRotateResealsTheVault: `encryption rotate` re-seals the
// subject key vault (its index key and every live subject key) with the
// database, so once it has run the old encryption key can be removed and
// every customer's personal fields still read, new customers still get
// keys, while a customer erased before the rotation stays unreadable.
// Without the rotation, removing the old key leaves the vault unopenable.
func TestEncryptionRotateResealsTheVault(t *testing.T) {
	e := &secEnv{t: t, vars: map[string]string{"CRYPTOPAY_DATA_DIR": t.TempDir()}}
	oldKey := strings.TrimSpace(e.must("encryption", "keygen"))
	newKey := strings.TrimSpace(e.must("encryption", "keygen"))
	e.vars["CRYPTOPAY_ENCRYPTION_KEY"] = oldKey
	e.must("migrate")
	env := Env{Getenv: func(k string) string { return e.vars[k] }}

	type made struct {
		store      string
		key        *cryptopay.APIKey
		alice, bob string
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
		create := func(order, ref, email string) string {
			inv, err := a.svc.CreateInvoice(t.Context(), k.Key, gateway.InvoiceParams{OrderID: order, Amount: "0.001", Currency: "BTC",
				CustomerReference: ref, Metadata: map[string]string{"email": email}})
			if err != nil {
				t.Fatal(err)
			}
			return inv.ID
		}
		mm := made{st.ID, k.Key, create("o-1", "user_alice", "alice@example.com"), create("o-2", "user_bob", "bob@example.com")}
		if _, err := a.svc.EraseCustomer(t.Context(), st.ID, false, "user_bob"); err != nil {
			t.Fatal(err)
		}
		return mm
	})

	// The old key removed without a rotation: the vault cannot be opened.
	e.vars["CRYPTOPAY_ENCRYPTION_KEY"] = newKey
	if code, _, errs := e.run("customers", "export", "--store", m.store, "--ref", "user_alice"); code == 0 || !strings.Contains(errs, "index key") {
		t.Fatalf("vault under a key that never sealed it: exit %d %q; want the index key named", code, errs)
	}

	e.vars["CRYPTOPAY_ENCRYPTION_KEY"] = newKey + "," + oldKey
	out := e.must("encryption", "rotate")
	// The index key and Alice's key; Bob's was destroyed and holds nothing.
	if !strings.Contains(out, "subject key vault: checked 2 key(s), re-sealed 2") {
		t.Fatalf("rotate did not re-seal the vault's two live keys:\n%s", out)
	}
	if again := e.must("encryption", "rotate"); !strings.Contains(again, "subject key vault: checked 2 key(s), re-sealed 0") {
		t.Fatalf("a second rotate rewrote the vault again:\n%s", again)
	}

	e.vars["CRYPTOPAY_ENCRYPTION_KEY"] = newKey // the old key is gone
	var x struct {
		Erased   bool
		Invoices []struct {
			CustomerReference string `json:"customer_reference"`
			Metadata          map[string]string
		}
	}
	if err := json.Unmarshal([]byte(e.must("customers", "export", "--store", m.store, "--ref", "user_alice")), &x); err != nil {
		t.Fatal(err)
	}
	if x.Erased || len(x.Invoices) != 1 || x.Invoices[0].CustomerReference != "user_alice" || x.Invoices[0].Metadata["email"] != "alice@example.com" {
		t.Fatalf("Alice's export after the rotation: %+v", x)
	}
	withTestApp(t, env, func(a *app) any {
		for _, c := range []struct {
			name, id, ref, email string
		}{
			{"a customer's invoice still reads", m.alice, "user_alice", "alice@example.com"},
			{"an erased customer stays erased", m.bob, "", ""},
		} {
			got, err := a.svc.GetInvoice(t.Context(), nil, c.id)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got.CustomerReference != c.ref || got.Metadata["email"] != c.email {
				t.Errorf("%s: reference %q, email %q; want %q, %q", c.name, got.CustomerReference, got.Metadata["email"], c.ref, c.email)
			}
			raw, err := a.db.GetInvoice(t.Context(), c.id) // below the service: still the subject envelope
			if err != nil || !strings.HasPrefix(raw.CustomerReference, "subj1:") {
				t.Errorf("%s: stored reference %q (%v), want a subject envelope", c.name, raw.CustomerReference, err)
			}
		}
		// A new customer gets a key under the new encryption key.
		inv, err := a.svc.CreateInvoice(t.Context(), m.key, gateway.InvoiceParams{OrderID: "o-3", Amount: "0.001", Currency: "BTC",
			CustomerReference: "user_carol"})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := a.svc.GetInvoice(t.Context(), nil, inv.ID); err != nil || got.CustomerReference != "user_carol" {
			t.Fatalf("a new customer after the rotation: %+v %v", got, err)
		}
		return nil
	})
}
