package cli

import (
	"bytes"
	"context"
	"crypto/pbkdf2"
	"crypto/sha512"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay/internal/bitcoin/account"
)

type secEnv struct {
	t    *testing.T
	vars map[string]string
}

func (e *secEnv) run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, Env{Getenv: func(k string) string { return e.vars[k] }, Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

func (e *secEnv) must(args ...string) string {
	e.t.Helper()
	code, out, errs := e.run(args...)
	if code != 0 {
		e.t.Fatalf("cryptopay %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

// TestSecurityCommands runs the operator's security workflow end to end:
// live refused without a key, rotation from plain to a key and on to a
// second, audit verification, backup and restore.
func TestSecurityCommands(t *testing.T) {
	dir := t.TempDir()
	e := &secEnv{t: t, vars: map[string]string{
		"CRYPTOPAY_DATA_DIR":          dir,
		"CRYPTOPAY_BACKUP_PASSPHRASE": "correct horse battery staple",
	}}
	e.must("migrate")
	vpub := regtestAccountKey(t)
	if code, _, errs := e.run("stores", "create", "--live", "--name", "live shop", "--account-key", vpub); code == 0 || !strings.Contains(errs, "encryption key") {
		t.Fatalf("live store without a key: exit %d: %s", code, errs)
	}
	e.must("stores", "create", "--name", "shop", "--account-key", vpub)

	keyA := strings.TrimSpace(e.must("encryption", "keygen"))
	keyB := strings.TrimSpace(e.must("encryption", "keygen"))
	if code, _, errs := e.run("encryption", "rotate"); code == 0 || !strings.Contains(errs, "no encryption key") {
		t.Fatalf("rotate without a key: exit %d: %s", code, errs)
	}
	e.vars["CRYPTOPAY_ENCRYPTION_KEY"] = keyA
	e.must("encryption", "rotate")
	e.vars["CRYPTOPAY_ENCRYPTION_KEY"] = keyB + "," + keyA
	out := e.must("encryption", "rotate")
	// The first rotation's audit entry is keyed with A: A seals nothing
	// any more but must stay to verify it.
	if !strings.Contains(out, "keys 1 audit log entries: keep it") {
		t.Errorf("rotate to a new key did not say the old one still keys the audit log:\n%s", out)
	}
	e.vars["CRYPTOPAY_ENCRYPTION_KEY"] = keyB
	if code, _, errs := e.run("audit", "verify"); code == 0 || !strings.Contains(errs, "not configured") {
		t.Errorf("audit verify without the key of old entries: exit %d: %s", code, errs)
	}
	e.vars["CRYPTOPAY_ENCRYPTION_KEY"] = keyB + "," + keyA
	if out := e.must("audit", "verify"); !strings.Contains(out, "intact") || !strings.Contains(out, "keyed from entry") {
		t.Errorf("audit verify: %s", out)
	}
	if out := e.must("audit", "list"); !strings.Contains(out, "encryption.rotated") {
		t.Errorf("audit list lacks the rotations:\n%s", out)
	}

	backupFile := filepath.Join(dir, "b.age")
	e.must("backup", "--out", backupFile)
	restored := filepath.Join(dir, "restored.db")
	e.must("restore", backupFile, "--to", restored)
	if code, _, _ := e.run("restore", backupFile, "--to", restored); code == 0 {
		t.Error("restore overwrote an existing database")
	}
	e.vars["CRYPTOPAY_DATABASE_URL"] = restored
	if out := e.must("audit", "verify"); !strings.Contains(out, "intact") {
		t.Errorf("audit verify on the restored copy: %s", out)
	}
}

// regtestAccountKey returns the vpub of BIP84 account 0 of the standard
// "abandon … about" test mnemonic on regtest: a valid store account key
// whose private half no one needs.
func regtestAccountKey(t *testing.T) string {
	t.Helper()
	seed, err := pbkdf2.Key(sha512.New, "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", []byte("mnemonic"), 2048, 64)
	if err != nil {
		t.Fatal(err)
	}
	_, vpub, err := account.DeriveAccountFromSeed(seed, account.Regtest, 0)
	if err != nil {
		t.Fatal(err)
	}
	return vpub
}
