package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// TestBackupCarriesTheVault: `cryptopay backup` writes the subject key
// vault's copy beside the database's, encrypted to the same passphrase;
// `restore --vault-to` brings both back, and on the restored pair alone
// (the original data directory gone) a customer's personal fields read
// again while a customer erased before the backup stays erased. A restore
// asked for a vault copy that is missing writes nothing.
func TestBackupCarriesTheVault(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	e := &secEnv{t: t, vars: map[string]string{
		"CRYPTOPAY_DATA_DIR":          data,
		"CRYPTOPAY_BACKUP_PASSPHRASE": "correct horse battery staple",
	}}
	e.vars["CRYPTOPAY_ENCRYPTION_KEY"] = strings.TrimSpace(e.must("encryption", "keygen"))
	e.must("migrate")
	env := Env{Getenv: func(k string) string { return e.vars[k] }}

	type made struct{ store, alice, bob string }
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
		create := func(order, ref string) string {
			inv, err := a.svc.CreateInvoice(t.Context(), k.Key, gateway.InvoiceParams{OrderID: order, Amount: "0.001", Currency: "BTC",
				CustomerReference: ref, Metadata: map[string]string{"email": ref + "@example.com"}})
			if err != nil {
				t.Fatal(err)
			}
			return inv.ID
		}
		mm := made{st.ID, create("o-1", "alice"), create("o-2", "bob")}
		if _, err := a.svc.EraseCustomer(t.Context(), st.ID, false, "bob"); err != nil {
			t.Fatal(err)
		}
		return mm
	})

	file := filepath.Join(dir, "b.db.age")
	out := e.must("backup", "--out", file)
	vaultFile := filepath.Join(dir, "b.vault.age")
	if !strings.Contains(out, vaultFile) {
		t.Fatalf("backup did not write the vault's copy beside it:\n%s", out)
	}
	raw, err := os.ReadFile(vaultFile)
	if err != nil || !strings.HasPrefix(string(raw), "age-encryption.org/v1") || strings.Contains(string(raw), "subject_keys") {
		t.Fatalf("the vault's copy is not an age file (%v)", err)
	}

	// A missing vault copy: nothing is restored at all.
	if code, _, errs := e.run("restore", filepath.Join(dir, "missing.db.age"), "--to", filepath.Join(dir, "x.db"), "--vault-to", filepath.Join(dir, "x-vault.db")); code == 0 || !strings.Contains(errs, "missing") {
		t.Fatalf("restore without a vault copy: exit %d %q", code, errs)
	}
	if err := os.WriteFile(filepath.Join(dir, "lonely.db.age"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := e.run("restore", filepath.Join(dir, "lonely.db.age"), "--to", filepath.Join(dir, "y.db"), "--vault-to", filepath.Join(dir, "y-vault.db")); code == 0 || !strings.Contains(errs, "subject key vault") {
		t.Fatalf("restore whose vault copy is missing: exit %d %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "y.db")); !os.IsNotExist(err) {
		t.Fatalf("the database was restored although its vault copy is missing (%v)", err)
	}

	restoredDB, restoredVault := filepath.Join(dir, "restored.db"), filepath.Join(dir, "restored-vault.db")
	e.must("restore", file, "--to", restoredDB, "--vault-to", restoredVault)
	if err := os.RemoveAll(data); err != nil { // the disaster: the original data directory is gone
		t.Fatal(err)
	}
	e.vars["CRYPTOPAY_DATABASE_URL"] = restoredDB
	e.vars["CRYPTOPAY_SUBJECT_VAULT"] = restoredVault
	withTestApp(t, env, func(a *app) any {
		for _, c := range []struct {
			name, id, ref, email string
		}{
			{"a customer's fields read from the restored pair", m.alice, "alice", "alice@example.com"},
			{"a customer erased before the backup stays erased", m.bob, "", ""},
		} {
			got, err := a.svc.GetInvoice(t.Context(), nil, c.id)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got.CustomerReference != c.ref || got.Metadata["email"] != c.email {
				t.Errorf("%s: reference %q, email %q; want %q, %q", c.name, got.CustomerReference, got.Metadata["email"], c.ref, c.email)
			}
		}
		return nil
	})
	if out := e.must("customers", "export", "--store", m.store, "--ref", "alice"); !strings.Contains(out, "alice@example.com") {
		t.Fatalf("export from the restored pair: %s", out)
	}
}
