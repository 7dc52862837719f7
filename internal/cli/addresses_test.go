package cli

import (
	"strings"
	"testing"
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
