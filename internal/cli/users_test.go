package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
)

// TestUsersCommands: an operator creates a staff user from a password
// file, sees it listed with its store, and the refusals name what is
// wrong and create nothing.
func TestUsersCommands(t *testing.T) {
	e, env := loopbackEnv(t)
	st := withTestApp(t, env, func(a *app) *cryptopay.Store { return createRegtestStore(t, a) })
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("a long enough passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := e.must("users", "create", "--email", "Staff@Shop.example", "--store", st.ID, "--role", "staff", "--password-file", pw)
	for _, want := range []string{"email: staff@shop.example", "secret: ", "otpauth://totp/CryptoPay:staff@shop.example"} {
		if !strings.Contains(out, want) {
			t.Errorf("users create output lacks %q:\n%s", want, out)
		}
	}
	short := filepath.Join(t.TempDir(), "short")
	_ = os.WriteFile(short, []byte("short\n"), 0o600)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"same email", []string{"users", "create", "--email", "staff@shop.example", "--store", st.ID, "--password-file", pw}, 1, "already exists"},
		{"short password", []string{"users", "create", "--email", "b@shop.example", "--store", st.ID, "--password-file", short}, 1, "at least 12"},
		{"no password file", []string{"users", "create", "--email", "c@shop.example", "--store", st.ID}, 2, "--password-file"},
		{"unknown role", []string{"users", "create", "--email", "d@shop.example", "--store", st.ID, "--role", "admin", "--password-file", pw}, 1, "not a role"},
		{"unknown store", []string{"users", "create", "--email", "e@shop.example", "--store", "sto_01aaaaaaaaaaaaaaaaaaaaaaaa", "--password-file", pw}, 1, "store"},
		{"unlock an unknown user", []string{"users", "unlock", "--email", "nobody@shop.example"}, 1, "No dashboard user"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := e.run(tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d: %q; want exit %d mentioning %q", code, errs, tc.code, tc.want)
			}
		})
	}
	list := e.must("users", "list")
	if strings.Count(list, "\n") != 1 || !strings.Contains(list, "staff@shop.example") || !strings.Contains(list, st.ID+":staff") {
		t.Errorf("users list:\n%s", list)
	}
	if out := e.must("users", "disable", "--email", "staff@shop.example"); !strings.Contains(out, "disabled") {
		t.Errorf("users disable: %q", out)
	}
	if list := e.must("users", "list"); !strings.Contains(list, "disabled") {
		t.Errorf("after disable:\n%s", list)
	}
}
