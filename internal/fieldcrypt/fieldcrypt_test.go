package fieldcrypt

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func testKey(b byte) Key {
	var k Key
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	old, _ := NewKeyring(k1)
	rotated, _ := NewKeyring(k2, k1)
	onlyNew, _ := NewKeyring(k2)
	none, _ := NewKeyring()
	aad := []byte("invoices/inv_1/metadata")

	sealed, err := old.Seal([]byte(`{"sku":"a"}`), aad)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "sku") {
		t.Fatalf("sealed value leaks plaintext: %s", sealed)
	}
	plain, _ := none.Seal([]byte("x"), aad)

	cases := []struct {
		name    string
		ring    *Keyring
		value   string
		aad     []byte
		want    string
		wantErr error
	}{
		{"same key", old, sealed, aad, `{"sku":"a"}`, nil},
		{"old key after rotation", rotated, sealed, aad, `{"sku":"a"}`, nil},
		{"old key dropped", onlyNew, sealed, aad, "", ErrUnknownKey},
		{"no keys cannot open", none, sealed, aad, "", ErrUnknownKey},
		{"moved to another row", old, sealed, []byte("invoices/inv_2/metadata"), "", ErrTampered},
		{"tampered", old, sealed[:len(sealed)-2] + "AA", aad, "", ErrTampered},
		{"truncated", old, sealed[:12], aad, "", ErrMalformed},
		{"garbage", old, "hello", aad, "", ErrMalformed},
		{"plain readable by all", onlyNew, plain, aad, "x", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.ring.Open(tc.value, tc.aad)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, []byte(tc.want)) {
				t.Fatalf("Open = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if !rotated.NeedsReseal(sealed) || old.NeedsReseal(sealed) || !rotated.NeedsReseal(plain) {
		t.Error("NeedsReseal disagrees with the sealing key")
	}
}

func TestParseKey(t *testing.T) {
	hexKey := strings.Repeat("ab", 32)
	if _, err := ParseKey(hexKey); err != nil {
		t.Errorf("hex key: %v", err)
	}
	if _, err := ParseKey("q83vq83vq83vq83vq83vq83vq83vq83vq83vq83vq80="); err != nil {
		t.Errorf("base64 key: %v", err)
	}
	for _, bad := range []string{"", "short", strings.Repeat("zz", 32), strings.Repeat("ab", 16)} {
		if _, err := ParseKey(bad); !errors.Is(err, ErrBadKey) {
			t.Errorf("ParseKey(%q) = %v, want ErrBadKey", bad, err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	r, _ := NewKeyring(testKey(7))
	s, _ := r.Seal([]byte("secret"), nil)
	f.Add(s)
	f.Add("plain:aGk")
	f.Fuzz(func(t *testing.T, v string) {
		pt, err := r.Open(v, nil)
		if err == nil && strings.HasPrefix(v, sealPrefix) && !bytes.Equal(pt, []byte("secret")) {
			// Only values this keyring sealed can open under GCM.
			t.Fatalf("opened a forged value %q to %q", v, pt)
		}
	})
}

// TestAuditKey: each key has its own audit MAC key, stable across
// keyrings, distinct from the key itself, and absent for unknown ids.
func TestAuditKey(t *testing.T) {
	a, b := Key{1}, Key{2}
	r1, err := NewKeyring(a, b)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := NewKeyring(b, a)
	ka, ok := r1.AuditKey(a.ID())
	kb, _ := r1.AuditKey(b.ID())
	ka2, _ := r2.AuditKey(a.ID())
	switch {
	case !ok || len(ka) != 32:
		t.Fatalf("AuditKey(a) = %x, %v", ka, ok)
	case bytes.Equal(ka, kb):
		t.Error("two keys share an audit key")
	case !bytes.Equal(ka, ka2):
		t.Error("the audit key depends on the keyring's order")
	case bytes.Equal(ka, a[:]):
		t.Error("the audit key is the encryption key itself")
	}
	if _, ok := r1.AuditKey("00000000"); ok {
		t.Error("an unknown id has an audit key")
	}
	var none *Keyring
	if _, ok := none.AuditKey(a.ID()); ok {
		t.Error("a nil keyring has an audit key")
	}
}
