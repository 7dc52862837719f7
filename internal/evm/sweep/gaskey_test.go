package sweep

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

const testKeyHex = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

func TestLoadGasKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name    string
		path    string
		wantErr string // "" for success
	}{
		{"0600 with newline", write("a", testKeyHex+"\n", 0o600), ""},
		{"0400 with 0x", write("b", "0x"+testKeyHex, 0o400), ""},
		{"world readable", write("c", testKeyHex, 0o644), "must not be readable"},
		{"group readable", write("d", testKeyHex, 0o640), "must not be readable"},
		{"world writable", write("e", testKeyHex, 0o602), "must not be readable"},
		{"directory", dir, "not a regular file"},
		{"missing", filepath.Join(dir, "none"), "no such file"},
		{"unset", "", "CRYPTOPAY_EVM_GAS_KEY_FILE"},
		{"short", write("f", testKeyHex[:62], 0o600), "64 hex digits"},
		{"not hex", write("g", strings.Repeat("z", 64), 0o600), "not hexadecimal"},
		{"zero key", write("h", strings.Repeat("0", 64), 0o600), "not a valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := LoadGasKey(tc.path)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := hex.EncodeToString(crypto.FromECDSA(key)); got != testKeyHex {
					t.Fatalf("key %s, want %s", got, testKeyHex)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), testKeyHex[:16]) {
				t.Fatal("the error repeats the key")
			}
		})
	}
}

// FuzzParseGasKey: the parser never panics, never echoes its input in an
// error, and a key it accepts is the 32 bytes the input spelled.
func FuzzParseGasKey(f *testing.F) {
	for _, s := range []string{testKeyHex, "0x" + testKeyHex, " " + testKeyHex + "\n", "", "0x", strings.Repeat("f", 64), strings.Repeat("0", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ParseGasKey(s)
		if err != nil {
			if len(s) >= 8 && strings.Contains(err.Error(), strings.TrimSpace(s)) {
				t.Fatalf("error %q echoes the input", err)
			}
			return
		}
		norm := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X"))
		if got := hex.EncodeToString(crypto.FromECDSA(key)); got != norm {
			t.Fatalf("accepted %q as key %s", s, got)
		}
	})
}
