package gateway

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/shred"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// FuzzOpenStoredResponse: the stored form of a response is parsed before
// it is replayed; any bytes a database could hold there never panic, a
// JSON body comes back as it was, and nothing but what SealStoredResponse
// wrote for a live subject opens to a body.
func FuzzOpenStoredResponse(f *testing.F) {
	db := testdb.SQLite(f)
	svc := New(Config{DB: db, Outbox: eventsOnly{}})
	kr, _ := fieldcrypt.NewKeyring(fieldcrypt.Key{3})
	v, err := shred.Open(f.Context(), filepath.Join(f.TempDir(), "vault.db"), kr)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { v.Close() })
	svc.SetVault(v)
	id, key, err := v.Key(f.Context(), "sto_1", "alice", true)
	if err != nil {
		f.Fatal(err)
	}
	inv1, inv2 := cryptopay.NewID(cryptopay.PrefixInvoice, time.Now()), cryptopay.NewID(cryptopay.PrefixInvoice, time.Now())
	env, err := shred.Seal(id, key, []byte(`{"object":"invoice"}`), storedAAD(inv1))
	if err != nil {
		f.Fatal(err)
	}
	// The fuzzing workers rebuild this setup with fresh keys: in them the
	// seed's envelope names a subject their vault never had (erased).
	good := storedPrefix + inv1 + ":" + env
	for _, s := range []string{good, `{"id":"inv_1"}`, "", storedPrefix, storedPrefix + inv1 + ":", storedPrefix + inv2 + ":" + env,
		storedPrefix + ":" + env, storedPrefix + "inv_1:" + env, storedPrefix + inv1 + ":subj1:sub_x:AAAA", storedPrefix + inv1 + ":subj1::"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, stored []byte) {
		body, invoiceID, err := svc.OpenStoredResponse(t.Context(), stored)
		switch {
		case !bytes.HasPrefix(stored, []byte(storedPrefix)):
			if err != nil || !bytes.Equal(body, stored) || invoiceID != "" {
				t.Fatalf("an unsealed body changed: %q → %q %q %v", stored, body, invoiceID, err)
			}
		case err == nil && string(stored) != good:
			t.Fatalf("%q opened to %q", stored, body)
		case err != nil && body != nil:
			t.Fatalf("%q failed (%v) but returned a body", stored, err)
		case errors.Is(err, ErrStoredResponseErased) && invoiceID == "":
			t.Fatalf("%q: erased without the invoice id", stored)
		}
	})
}
