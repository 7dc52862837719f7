package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// TestAddressesCommands: an operator blocks, lists and unblocks a sending
// address; both writes land in the audit log with the operator as actor,
// and mistakes are refused with a clear message.
func TestAddressesCommands(t *testing.T) {
	e := &secEnv{t: t, vars: map[string]string{"CRYPTOPAY_DATA_DIR": t.TempDir()}}
	e.must("migrate")
	if out := e.must("addresses", "blocked"); !strings.Contains(out, "no blocked addresses") {
		t.Fatalf("empty list: %q", out)
	}
	e.must("addresses", "block", "--network", "bitcoin-regtest", "--address", "bcrt1qbad", "--reason", "chargeback fraud")
	out := e.must("addresses", "blocked", "--network", "bitcoin-regtest")
	if !strings.Contains(out, "bcrt1qbad") || !strings.Contains(out, "chargeback fraud") || !strings.Contains(out, "operator") {
		t.Fatalf("list after block: %q", out)
	}
	if out := e.must("addresses", "blocked", "--network", "bitcoin"); !strings.Contains(out, "no blocked addresses") {
		t.Fatalf("another network's list: %q", out)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"block twice", []string{"addresses", "block", "--network", "bitcoin-regtest", "--address", "bcrt1qbad"}, 1, "already blocked"},
		{"unknown network", []string{"addresses", "block", "--network", "dogecoin", "--address", "x"}, 1, "network"},
		{"missing address", []string{"addresses", "unblock", "--network", "bitcoin-regtest"}, 2, "--address"},
		{"unknown subcommand", []string{"addresses", "purge"}, 2, "unknown addresses command"},
		{"unblock a stranger", []string{"addresses", "unblock", "--network", "bitcoin-regtest", "--address", "bcrt1qnobody"}, 1, "not blocked"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := e.run(tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d: %q; want exit %d mentioning %q", code, errs, tc.code, tc.want)
			}
		})
	}
	e.must("addresses", "unblock", "--network", "bitcoin-regtest", "--address", "bcrt1qbad")
	if out := e.must("addresses", "blocked"); !strings.Contains(out, "no blocked addresses") {
		t.Fatalf("list after unblock: %q", out)
	}
	audit := e.must("audit", "list", "--action", "")
	for _, want := range []string{"address.blocked", "address.unblocked", "bcrt1qbad", "actor operator"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log lacks %q:\n%s", want, audit)
		}
	}
}

// TestAddressesRelease: an operator releases a payment held because its
// sender is blocked: the payment is pending (unconfirmed, so not credited
// as confirmed), the invoice's held flag is gone, and the release is
// audited with the operator as actor. A second release changes nothing;
// mistakes are refused with a clear message.
func TestAddressesRelease(t *testing.T) {
	ctx := context.Background()
	e, env := loopbackEnv(t)
	held := withTestApp(t, env, func(a *app) [2]any {
		inv := createTestInvoice(t, a, createRegtestStore(t, a).ID)
		p := &cryptopay.Payment{ID: cryptopay.NewID(cryptopay.PrefixPayment, a.svc.Now()), InvoiceID: inv.ID,
			TxID: strings.Repeat("ab", 32), Amount: inv.CryptoDue, FromAddress: "bcrt1qbad", Status: cryptopay.PaymentHeld, SeenAt: a.svc.Now()}
		err := a.db.InTx(ctx, func(tx storage.Tx) error {
			locked, err := tx.LockInvoice(ctx, inv.ID)
			if err != nil {
				return err
			}
			if err := tx.CreatePayment(ctx, p); err != nil {
				return err
			}
			locked.Flags |= cryptopay.FlagHeld
			return tx.UpdateInvoice(ctx, locked)
		})
		if err != nil {
			t.Fatal(err)
		}
		return [2]any{inv, p.ID}
	})
	inv, pid := held[0].(*cryptopay.Invoice), held[1].(string)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no reason", []string{"addresses", "release", "--invoice", inv.ID, "--payment", pid}, 2, "--reason"},
		{"unknown payment", []string{"addresses", "release", "--invoice", inv.ID, "--payment", "pay_01aaaaaaaaaaaaaaaaaaaaaaaa", "--reason", "x"}, 1, "has no payment"},
		{"not a payment id", []string{"addresses", "release", "--invoice", inv.ID, "--payment", "inv_x", "--reason", "x"}, 1, "not a payment id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := e.run(tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d: %q; want exit %d mentioning %q", code, errs, tc.code, tc.want)
			}
		})
	}
	out := e.must("addresses", "release", "--invoice", inv.ID, "--payment", pid, "--reason", "sender verified")
	if !strings.Contains(out, "released "+pid) || !strings.Contains(out, "payment pending, invoice processing") {
		t.Fatalf("release: %q", out)
	}
	e.must("addresses", "release", "--invoice", inv.ID, "--payment", pid, "--reason", "again")
	got := withTestApp(t, env, func(a *app) *cryptopay.Invoice {
		got, err := a.svc.GetInvoice(ctx, nil, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	})
	if got.Flags&cryptopay.FlagHeld != 0 || got.Payments[0].ReleasedBy != "operator" || got.Payments[0].Status != cryptopay.PaymentPending {
		t.Fatalf("after release: flags %s, payment %+v", got.Flags, got.Payments[0])
	}
	audit := e.must("audit", "list", "--store", inv.StoreID, "--action", "payment.released")
	if strings.Count(audit, "payment.released") != 1 || !strings.Contains(audit, "sender verified") || !strings.Contains(audit, "actor operator") {
		t.Errorf("audit log:\n%s", audit)
	}
}
