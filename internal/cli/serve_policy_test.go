package cli

import (
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay/internal/bitcoin/account"
)

// TestConfirmationPoliciesAgainstTheReorgLimit: a store may not require
// more confirmations than CRYPTOPAY_BITCOIN_REORG_LIMIT (its invoices
// could never settle): refused at creation, and serve refuses to start
// with such a store (made before the limit was lowered).
func TestConfirmationPoliciesAgainstTheReorgLimit(t *testing.T) {
	key := func(n uint32) string {
		_, vpub, err := account.DeriveAccountFromSeed([]byte("cryptopay reorg limit test seed!"), account.Regtest, n)
		if err != nil {
			t.Fatal(err)
		}
		return vpub
	}
	e := &secEnv{t: t, vars: map[string]string{"CRYPTOPAY_DATA_DIR": t.TempDir(), "CRYPTOPAY_BITCOIN_REORG_LIMIT": "10"}}
	e.must("migrate")
	code, _, errs := e.run("stores", "create", "--name", "deep", "--account-key", key(0))
	if code == 0 || !strings.Contains(errs, "reorg limit of 10") {
		t.Fatalf("store requiring 24 confirmations under a limit of 10: code %d, %q", code, errs)
	}
	e.must("stores", "create", "--name", "shallow", "--account-key", key(0), "--confirmations", "100.00:3,10")

	e.vars["CRYPTOPAY_BITCOIN_REORG_LIMIT"] = "100"
	e.must("stores", "create", "--name", "default", "--account-key", key(1))
	e.vars["CRYPTOPAY_BITCOIN_REORG_LIMIT"] = "10"
	code, _, errs = e.run("serve")
	if code == 0 || !strings.Contains(errs, "reorg limit of 10") || !strings.Contains(errs, "default") {
		t.Fatalf("serve with a store beyond the limit: code %d, %q", code, errs)
	}
}
