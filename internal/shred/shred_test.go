package shred

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
)

// TestVaultDestroy: a subject's key opens its envelopes until destroyed;
// then the key is gone for good (not even the sealed bytes remain), a
// second destroy reports already, and the subject coming back gets a new
// key that cannot open the old envelopes.
func TestVaultDestroy(t *testing.T) {
	ctx := context.Background()
	kr, _ := fieldcrypt.NewKeyring(fieldcrypt.Key{7})
	v, err := Open(ctx, filepath.Join(t.TempDir(), "v.db"), kr)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	id, key, err := v.Key(ctx, "sto_1", "user_1", true)
	if err != nil {
		t.Fatal(err)
	}
	env, err := Seal(id, key, []byte("user_1"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := SubjectOf(env); !ok || got != id || bytes.Contains([]byte(env), []byte("user_1")) {
		t.Fatalf("envelope %q", env)
	}
	if _, err := OpenEnvelope(env, key, []byte("other aad")); err == nil {
		t.Fatal("an envelope opened under another row's aad")
	}
	if _, already, err := v.Destroy(ctx, "sto_1", "user_1"); err != nil || already {
		t.Fatalf("destroy: %v %v", already, err)
	}
	if _, err := v.KeyByID(ctx, id); !errors.Is(err, ErrErased) {
		t.Fatalf("key after destroy: %v", err)
	}
	var sealed string
	if err := v.db.QueryRowContext(ctx, `SELECT sealed_key FROM subject_keys WHERE id = ?`, id).Scan(&sealed); err != nil || sealed != "" {
		t.Fatalf("sealed key bytes left: %q %v", sealed, err)
	}
	if _, already, err := v.Destroy(ctx, "sto_1", "user_1"); err != nil || !already {
		t.Fatalf("second destroy: %v %v", already, err)
	}
	id2, key2, err := v.Key(ctx, "sto_1", "user_1", true)
	if err != nil || id2 == id {
		t.Fatalf("returning subject: %s %v", id2, err)
	}
	if _, err := OpenEnvelope(env, key2, []byte("aad")); err == nil {
		t.Fatal("the new key opened an erased envelope")
	}
	if _, _, err := v.Key(ctx, "sto_2", "user_1", false); !errors.Is(err, ErrNoSubject) {
		t.Fatalf("same reference in another store: %v, want no subject", err)
	}
}

// FuzzEnvelope: parsing any string as an envelope never panics, and a
// value that is not an envelope never opens.
func FuzzEnvelope(f *testing.F) {
	key := bytes.Repeat([]byte{1}, 32)
	good, _ := Seal("sub_1", key, []byte("x"), nil)
	for _, s := range []string{good, "", "subj1:", "subj1:sub_1", "subj1::", "plain:eA", "subj1:sub_1:!!!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := SubjectOf(s)
		if ok && id == "" {
			t.Fatal("empty subject accepted")
		}
		pt, err := OpenEnvelope(s, key, nil)
		if err == nil && s != good && string(pt) != "x" {
			t.Fatalf("%q opened to %q", s, pt)
		}
	})
}
